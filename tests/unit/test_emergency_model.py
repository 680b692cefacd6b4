"""The emergency model: trained the same way each time, saved small, read back, refused when broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handlers.language.emergency_model import (
    FORMAT_VERSION,
    KEEP_ABOVE,
    ModelError,
    features,
    load_model,
    train,
)
from handlers.language.intents import load_classifier
from handlers.language.normalize import normalize
from handlers.language.rule_tables import IntentRulesError

SAMPLES = [
    (normalize(text), label)
    for text, label in [
        ("老人摔倒了起不来", True),
        ("我妈晕过去了", True),
        ("厨房着火了", True),
        ("有人拿刀砍人", True),
        ("孩子掉河里了", True),
        ("水管漏水了", False),
        ("电费怎么交", False),
        ("降压药没了", False),
        ("楼上太吵了", False),
        ("谢谢你们", False),
    ]
]
RULES = Path(__file__).resolve().parents[2] / "config" / "intents.toml"


def test_features_are_the_character_ngrams() -> None:
    assert features("着火了") == {"着", "火", "了", "着火", "火了", "着火了"}


def test_a_phone_number_is_one_mark_in_digits_or_chinese_numerals() -> None:
    assert features("电话一三八一二三四五六七八") == features("电话13812345678") == features("电话#")
    assert "120" in features("打120")  # short numbers still count: 120, 119, 110


def test_everyday_requests_with_an_address_a_name_and_a_phone_are_not_emergencies() -> None:
    shipped = load_classifier(RULES, RULES.parent / "emergency-model.json")
    for text, category in [
        ("我住五号楼三单元六零二,厨房水管漏了,找李桂芝,电话一五零一二三四五六七八", "repair"),
        ("8栋1单元1103的窗户关不上了 联系人周建平 13698765432", "repair"),
        ("帮我查一下7号楼2单元402这个月的水费 户主刘淑珍 电话15811112222", "bill"),
        ("楼上1502天天晚上拖椅子 吵得睡不着 我是1402的 电话一三七一一二二三三四四", "dispute"),
    ]:
        assert shipped.classify(text).category == category, text


def test_a_leak_with_a_phone_read_out_in_chinese_is_not_an_emergency() -> None:
    shipped = load_classifier(RULES, RULES.parent / "emergency-model.json")
    assert shipped.classify("卫生间水管漏水了,电话一三八一二三四五六七八").category == "repair"
    assert shipped.classify("我爸摔倒了起不来 电话一三八一二三四五六七八").category == "emergency"


def test_the_same_data_trains_the_same_model_and_it_separates_what_it_saw() -> None:
    first, second = train(SAMPLES, threshold=0.5), train(SAMPLES, threshold=0.5)
    assert first == second
    for text, label in SAMPLES:
        assert (first.probability(text) >= 0.5) == label, text


def test_saved_models_keep_only_weights_that_matter_and_load_back(tmp_path: Path) -> None:
    model = train(SAMPLES, threshold=0.7)
    path = tmp_path / "model.json"
    model.save(path)
    loaded = load_model(path)
    assert set(loaded.weights) <= set(model.weights)
    assert all(abs(weight) >= KEEP_ABOVE for weight in loaded.weights.values())
    assert loaded.threshold == 0.7
    for text, _ in SAMPLES:
        assert loaded.probability(text) == pytest.approx(model.probability(text), abs=0.02)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "cannot read"),
        ('{"format": 1, "weights": {}, "bias": 0, "threshold": 0.5}', "not an emergency model of format 2"),
        ('{"format": 2, "weights": [], "bias": 0, "threshold": 0.5}', "malformed"),
        (
            '{"format": 2, "weights": {}, "bias": 0, "threshold": 1.5}',
            "threshold must be between 0 and 1",
        ),
    ],
)
def test_a_broken_model_file_stops_start_up_with_a_clear_error(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "model.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ModelError, match=message):
        load_model(path)
    with pytest.raises(IntentRulesError, match=message):
        load_classifier(RULES, path)


def test_the_model_raises_what_the_rules_miss_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    body = {"format": FORMAT_VERSION, "bias": -3.0, "threshold": 0.9, "weights": {"不对劲": 8.0}}
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    without, with_model = load_classifier(RULES), load_classifier(RULES, path)
    text = "我爸今天有点不对劲"
    assert without.classify(text).category != "emergency"
    result = with_model.classify(text)
    assert result.category == "emergency" and result.matched[0].startswith("model:")
    assert with_model.classify("水管漏水了").category == "repair"


def test_where_the_rules_placed_a_request_firmly_the_model_must_be_surer(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    weights = {"不对劲": 2.2}  # probability 0.9 with the bias below: between the two thresholds
    body = {"format": FORMAT_VERSION, "bias": 0.0, "threshold": 0.8, "placed_threshold": 0.95}
    body["weights"] = weights
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    classifier = load_classifier(RULES, path)
    assert classifier.classify("我爸今天不对劲").category == "emergency"  # the rules placed nothing
    assert classifier.classify("水管漏水了 水表也不对劲").category == "repair"  # a firm repair


def test_a_model_without_a_placed_threshold_calls_at_one_threshold_everywhere(tmp_path: Path) -> None:
    model = train(SAMPLES, threshold=0.8)
    path = tmp_path / "model.json"
    model.save(path)
    loaded = load_model(path)
    assert loaded.placed_threshold is None
    assert loaded.threshold_for(placed=True) == loaded.threshold_for(placed=False) == 0.8
    both = train(SAMPLES, threshold=0.8, placed_threshold=0.9)
    both.save(path)
    assert load_model(path).threshold_for(placed=True) == 0.9

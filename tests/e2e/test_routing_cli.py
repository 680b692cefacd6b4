"""`run.py classify` and `run.py routing`, called in-process as a community office would run them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handlers.language.emergency_model import load_model
from run import main

SMALL_CORPUS = """# a corpus staff might keep
老人摔倒了起不来\temergency\t
我妈晕过去了叫不醒\temergency\t
厨房着火了\temergency\t
水管漏水了\trepair\t
电费怎么交\tbill\t
降压药没了\tmedicine\t
楼上太吵了\tdispute\t
谢谢你们\tother\t
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.tsv"
    path.write_text(SMALL_CORPUS, encoding="utf-8")
    return path


def test_classify_shows_which_rule_fired(capsys) -> None:
    assert main(["classify", "救命 我爸在卫生间摔倒了 站不起来"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["category"] == "emergency" and result["kind"] == "medical"
    assert "call_for_help:救命" in result["matched"]
    assert any(rule.startswith("fall:") for rule in result["matched"])


def test_routing_check_prints_figures_per_category(corpus: Path, capsys) -> None:
    assert main(["routing", "check", str(corpus)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("corpus.tsv: routed right 100.0% (8/8), emergencies caught 100.0% (3/3)")
    assert any(line.split()[:2] == ["emergency", "3/3"] for line in out)


def test_routing_train_writes_a_model_the_service_can_load(corpus: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "model.json"
    assert main(["routing", "train", str(corpus), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "chosen threshold" in printed and "trained on 8 messages" in printed
    model = load_model(out)
    assert 0 < model.threshold < 1 and model.weights
    assert model.placed_threshold == 0.9  # where the rules placed a request firmly, the model must be surer


def test_routing_train_takes_a_threshold_for_firmly_placed_requests(
    corpus: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "model.json"
    assert main(["routing", "train", str(corpus), "--out", str(out), "--placed-threshold", "0.95"]) == 0
    assert "0.95 where the rules placed a request firmly" in capsys.readouterr().out
    assert load_model(out).threshold_for(placed=True) == 0.95


def test_a_malformed_corpus_is_one_clear_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("水管漏水了\trepairs\t\n", encoding="utf-8")
    assert main(["routing", "check", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"configuration error: {bad}:1: unknown category 'repairs'"


def test_a_corpus_that_is_not_there_is_one_clear_line(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.tsv"
    assert main(["routing", "check", str(missing)]) == 2
    assert capsys.readouterr().err.startswith(f"configuration error: {missing}: cannot read the corpus:")

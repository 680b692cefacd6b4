"""How well the shipped rules route labelled resident messages; the figures print at the end of the run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.intents import IntentClassifier, load_classifier

RULES = Path(__file__).resolve().parents[2] / "config" / "intents.toml"
EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "routing-examples.tsv"
MIN_ACCURACY = 0.95


@dataclass(frozen=True)
class Example:
    """One labelled message: the expected category and any others that are also fine."""

    text: str
    expected: str
    acceptable: frozenset[str]

    def accepts(self, category: str) -> bool:
        """Right when it is the expected category or one of the also-acceptable ones."""
        return category == self.expected or category in self.acceptable


def read_examples(path: Path) -> list[Example]:
    """Parse the shared TSV: text, category, comma list of also-acceptable categories."""
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, expected, *rest = line.split("\t")
        acceptable = frozenset(name.strip() for name in (rest[0] if rest else "").split(",") if name.strip())
        examples.append(Example(text.strip(), expected.strip(), acceptable))
    return examples


@pytest.fixture(scope="module")
def shipped() -> IntentClassifier:
    """The rules exactly as shipped in config/intents.toml."""
    return load_classifier(RULES)


def test_shared_routing_examples(shipped: IntentClassifier, report: list[str]) -> None:
    if not EXAMPLES.exists():
        pytest.skip(f"shared routing examples not found at {EXAMPLES}")
    examples = read_examples(EXAMPLES)
    routed = [(ex, shipped.classify(ex.text).category) for ex in examples]
    wrong = [f"{ex.text} -> {got} (expected {ex.expected})" for ex, got in routed if not ex.accepts(got)]
    emergencies = [(ex, got) for ex, got in routed if ex.expected == "emergency"]
    missed = [ex.text for ex, got in emergencies if got != "emergency"]
    false_alarms = [ex.text for ex, got in routed if got == "emergency" and not ex.accepts(got)]
    accuracy = 1 - len(wrong) / len(examples)
    recall = 1 - len(missed) / len(emergencies) if emergencies else 1.0
    right, caught = len(examples) - len(wrong), len(emergencies) - len(missed)
    report.append(
        f"routing examples ({EXAMPLES.name}): accuracy {accuracy:.1%} ({right}/{len(examples)}), "
        f"emergency recall {recall:.1%} ({caught}/{len(emergencies)}), false alarms {len(false_alarms)}"
    )
    assert not missed, "missed emergencies:\n" + "\n".join(missed)
    assert accuracy >= MIN_ACCURACY, (
        f"accuracy {accuracy:.1%} < {MIN_ACCURACY:.0%}; misrouted:\n" + "\n".join(wrong)
    )


# Messages written for these tests, not taken from the shared file, so the rules are not just fit to it.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电梯卡在两层中间了,里面有老人被困", "emergency"),
        ("厨房里一股煤气味,头有点晕", "emergency"),
        ("我妈突然晕倒了,怎么叫都不醒", "emergency"),
        ("老伴说胸口疼,出了一身冷汗", "emergency"),
        ("敲了半天门,隔壁独居的王奶奶一直没反应", "emergency"),
        ("楼道里电动车充电着火了", "emergency"),
        ("孩子把一瓶药全吃了", "emergency"),
        ("对门两口子打起来了,男的拿着菜刀", "emergency"),
        ("我爸有老年痴呆,早上出门到现在找不到人", "emergency"),
        ("接到电话说是公安局的,让我转钱,我已经被骗了三万", "emergency"),
        ("暖气片不热,屋里才十几度", "repair"),
        ("水龙头一直滴水,关不上", "repair"),
        ("楼道灯坏了好几天了,晚上黑乎乎的", "repair"),
        ("厕所反臭,下水道是不是堵了", "repair"),
        ("防盗门锁坏了,钥匙打不开", "repair"),
        ("有线电视费在哪里交", "bill"),
        ("燃气欠费停气了,怎么充值", "bill"),
        ("物业费发票怎么开", "bill"),
        ("胰岛素快用完了,能帮忙去医院取一下吗", "medicine"),
        ("想开点治咳嗽的药", "medicine"),
        ("想挂个专家号,不会在手机上弄", "health"),
        ("能陪我爸去医院复查吗", "health"),
        ("想打流感疫苗,在哪打", "health"),
        ("对门邻居天天半夜装修,吵得睡不着", "dispute"),
        ("楼上邻居遛狗不拴绳,吓到孩子了", "dispute"),
        ("有人在楼道里堆杂物,消防通道都堵了", "dispute"),
        ("高龄补贴什么时候发", "inquiry"),
        ("居住证需要什么材料", "inquiry"),
        ("接到电话说我医保卡被冻结了,是不是骗子", "inquiry"),
        ("老年食堂在哪里", "inquiry"),
        ("收到,辛苦你们了", "other"),
        ("晚安", "other"),
    ],
)
def test_messages_beyond_the_shared_examples(shipped: IntentClassifier, text: str, expected: str) -> None:
    assert shipped.classify(text).category == expected

"""How well routing does on labelled resident messages; the figures print at the end of the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.routing_corpus import Evaluation, evaluate, read_corpus
from config.settings import load_settings
from handlers.language.intents import IntentClassifier, classifier_for, load_classifier

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "config" / "intents.toml"
CORPUS = ROOT / "tests" / "corpus"
DEVELOPMENT = CORPUS / "routing-development.tsv"
HELDOUT = CORPUS / "routing-heldout.tsv"
# The shared examples beside the checkout when there (they may have grown), else the copy kept here.
SHARED = ROOT.parent / "shared" / "routing-examples.tsv"
EXAMPLES = SHARED if SHARED.exists() else CORPUS / "routing-examples.tsv"
# Measured on this held-out corpus (batches 11, 15, 25 and 29, docs/routing.md) after the fifth session's
# round of batches 26-28: 512 of 534 emergencies, 93.0% routed right, 18 of 426 raised. These floors catch
# a regression; the goal (every emergency) is not met, and docs/routing.md says why.
HELDOUT_RECALL_FLOOR = 0.95
HELDOUT_ACCURACY_FLOOR = 0.92
HELDOUT_FALSE_ALARM_CEILING = 0.05


@pytest.fixture(scope="module")
def shipped() -> IntentClassifier:
    """The classifier as the service runs it: config/intents.toml and the emergency model."""
    return classifier_for(load_settings(environ={}))


@pytest.fixture(scope="module")
def rules_only() -> IntentClassifier:
    """The rules in config/intents.toml without the model."""
    return load_classifier(RULES)


def measured(classifier: IntentClassifier, path: Path, name: str, report: list[str]) -> Evaluation:
    """Route a corpus, add its figures to the report printed at the end of the run."""
    evaluation = evaluate(classifier, read_corpus(path), name)
    report.append(evaluation.summary())
    report.extend(evaluation.table())
    return evaluation


def misrouted(result: Evaluation) -> str:
    """The messages routed wrong, for a failure's message."""
    return "misrouted:\n" + "\n".join(f"{example.text} -> {got}" for example, got in result.wrong)


def test_the_development_corpus_is_routed_as_labelled(shipped, rules_only, report) -> None:
    measured(rules_only, DEVELOPMENT, "development corpus, rules alone", report)
    result = measured(shipped, DEVELOPMENT, "development corpus, rules and model", report)
    assert result.emergencies >= 400 and result.total >= 1000
    missed = [example.text for example, _ in result.missed]
    assert not missed, "missed emergencies:\n" + "\n".join(missed)
    assert result.accuracy >= 0.98, "misrouted:\n" + "\n".join(
        f"{e.text} -> {got}" for e, got in result.wrong
    )
    assert result.false_alarm_rate <= 0.01


def test_the_heldout_corpus_figures(shipped, rules_only, report) -> None:
    """Only figures: its texts are never shown, so that rules are not fitted to them (docs/routing.md)."""
    measured(rules_only, HELDOUT, "held-out corpus, rules alone", report)
    result = measured(shipped, HELDOUT, "held-out corpus, rules and model", report)
    assert result.emergencies >= 150
    # Floors under the figures measured when the corpus was written (docs/routing.md): a drop is a regression.
    # Plain numbers are compared, so that a failure's report shows figures, never the corpus's texts.
    summary, recall, accuracy = result.summary(), result.recall, result.accuracy
    raised = result.false_alarm_rate
    assert recall >= HELDOUT_RECALL_FLOOR, summary
    assert accuracy >= HELDOUT_ACCURACY_FLOOR, summary
    assert raised <= HELDOUT_FALSE_ALARM_CEILING, summary


def test_shared_routing_examples(shipped, report) -> None:
    result = measured(shipped, EXAMPLES, f"routing examples ({EXAMPLES.name})", report)
    missed = [example.text for example, _ in result.missed]
    assert not missed, "missed emergencies:\n" + "\n".join(missed)
    assert result.accuracy >= 0.95, "misrouted:\n" + "\n".join(
        f"{e.text} -> {got}" for e, got in result.wrong
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
        ("有个男的从公交站一路跟着我到楼下 还不走", "emergency"),
        ("洗澡的时候头晕想吐 热水器是燃气的", "emergency"),
        ("老伴走了以后没啥念想了 想早点去陪她", "emergency"),
        ("老人摔倒了应该怎么扶才对 我想学一下", "inquiry"),
        ("我爸有防走失手环吗 社区能办吗", "inquiry"),
        ("昨晚新闻里那场火灾好吓人", "other"),
        # Danger implied, not named (written here, not taken from batch 17).
        ("我在北京出差 我妈一个人住 昨晚到现在打了三十多个电话都没人接 麻烦去看一眼", "emergency"),
        ("楼上老赵家门口的报纸堆了一地 整个星期没见过他", "emergency"),
        ("这些年多亏你们照顾 我把狗托给对门了 谢谢", "emergency"),
        ("我爸吃饭的时候筷子拿不住 手不听使唤 话也说不利索", "emergency"),
        ("奶奶下午突然认不出我了 还一直说胡话", "emergency"),
        # Near-misses: a manhole cover that held, blood pressure.
        ("小区门口的井盖有点松 还好没掉下去 找人来修修", "repair"),
        ("我妈血压好多年都偏高 想约社区医生量一下", "health"),
        ("收到,辛苦你们了", "other"),
        ("晚安", "other"),
        # Hokkien read as Mandarin, a word typed by sound.
        # Near-misses: a parcel, cold hands, a fake offer asked about.
        ("阮阿爸佇房間昏去矣 叫伊攏無應", "emergency"),
        ("老头最歪了", "emergency"),
        ("快递放门口三天了都没人拿 是不是送错了", "other"),
        ("冬天一到手脚就冰凉 想找社区医生调理", "health"),
        ("有人冒充社区的加我微信 说发鸡蛋 让我填银行卡号 是你们吗", "inquiry"),
        # Retold from afar in Cantonese, a routine broken, food gone bad, a ceiling bulging, blood at a door
        # (written here, not taken from batches 22-24).
        ("阿爸頭先喺浴室跌低咗 起唔到身 我喺多倫多 唔該派人去睇下", "emergency"),
        ("我爸平时每天早上八点都给我发语音 今天到中午都没发 打电话也没人接", "emergency"),
        ("一家三口吃了隔夜的凉拌菜 都在拉肚子 孩子拉得站都站不稳", "emergency"),
        ("楼上漏水 我家客厅天花板鼓了个大包 一直往下掉灰", "emergency"),
        ("我是快递员 302那家门口地上有一滩血 敲门没人应", "emergency"),
        # Near-misses: a fire that is over, a fall "when nothing happened", hyperbole, a smoke alarm battery.
        ("上回楼下着火多亏你们 想送面锦旗过来", "other"),
        ("我妈说她上周在家摔了一跤 当时没啥事 想约社区医生看看腰", "health"),
        ("隔壁吵到半夜 我真的烦到想死", "dispute"),
        ("烟雾报警器没电了一直嘀嘀响 不是着火", "repair"),
        # Danger written obliquely: violence in code, a threat to a child, despair, a child gone, a scam's
        # second payment, a lone resident frightened with no cause given, heatstroke (written here, not
        # taken from batches 26-28).
        ("我老公又在砸东西了 孩子吓得直哭 你们能来个人吗 3栋", "emergency"),
        ("催债的说明天再不还 就让我儿子上学路上小心点", "emergency"),
        ("我妈刚才说她活够了 电话那头声音不对 我在外地", "emergency"),
        ("孩子在小区滑梯那边不见了 六岁 找了半天", "emergency"),
        ("对方让我别告诉家里人 说再转一笔就能解冻 我在银行门口", "emergency"),
        ("我一个人在家 心里发慌 说不上哪里不舒服", "emergency"),
        ("奶奶热得不出汗了 一直说头疼想吐", "emergency"),
        # Near-misses: 救命 as a joke, despair told as over, a neighbour's fumes, a detector, a cold snap.
        ("救命 快递又送错了 哈哈", "other"),
        ("前阵子我挺想不开的 现在好多了 谢谢你们", "other"),
        ("邻居家的油烟都飘进我家了 能不能管管", "dispute"),
        ("哪里能领一氧化碳报警器", "inquiry"),
        ("寒潮来了 水管怎么防冻", "inquiry"),
    ],
)
def test_messages_beyond_the_shared_examples(shipped: IntentClassifier, text: str, expected: str) -> None:
    assert shipped.classify(text).category == expected

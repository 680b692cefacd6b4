"""normalize(): one canonical form for what residents type and say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from handlers.language.normalize import FILLERS, fold, normalize

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我爸在衛生間摔倒了", "我爸在卫生间摔倒了"),
        ("電費怎麼交", "电费怎么交"),
        ("燃氣洩漏了", "燃气泄漏了"),
    ],
)
def test_traditional_becomes_simplified(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_full_width_becomes_half_width_and_latin_lower_case() -> None:
    assert normalize("ＷｉＦｉ坏了，３号楼") == "wifi坏了3号楼"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("救命!!!", "救命"),
        ("救命！！😭😭", "救命"),
        ("  家里 停水\n了 ", "家里停水了"),
        ("【通知】“电费”~交了吗？", "通知电费交了吗"),
        ("★★谢谢★★👍", "谢谢"),
    ],
)
def test_whitespace_punctuation_and_emoji_are_removed(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("喂,你好,那个,我家那个水管漏了啊", "你好我家那个水管漏了"),
        ("喂喂喂,听得到吗", "听得到吗"),
        ("喂您好,电梯坏了", "您好电梯坏了"),
        ("嗯,就是说,我家,呃,停电了", "我家停电了"),
        ("我家嗯嗯水管漏了", "我家水管漏了"),
        ("哎,快来人啊", "快来人"),
        ("帮帮忙嘛", "帮帮忙"),
        ("嗯嗯", ""),
    ],
)
def test_voice_fillers_are_removed(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    "text",
    ["喂药喂不进去", "楼道里有人喂猫", "你们这是干嘛", "3号楼2单元301"],
)
def test_filler_characters_inside_words_are_kept(text: str) -> None:
    assert normalize(text) == text


def test_fillers_list_is_the_documented_one() -> None:
    assert set(FILLERS) == {"喂", "那个", "嘛", "呃", "嗯", "啊", "哎", "就是说"}


def test_fold_keeps_fillers_for_staff_written_words() -> None:
    assert fold("那個 ＯＫ！") == "那个ok"


def test_dictionary_is_loaded_lazily_and_without_resource_warnings() -> None:
    # A fresh interpreter: in this process another test has already loaded the dictionary.
    code = (
        "import zhconv.zhconv as z\n"
        "from handlers.language.normalize import normalize\n"
        "assert z.zhcdicts is None, 'dictionary loaded at import time'\n"
        "assert normalize('衛生間') == '卫生间'\n"
        "import gc; gc.collect()\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "ResourceWarning" not in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("樓上着伙了", "楼上着火了"),
        ("点题卡在七楼八楼中间", "电梯卡在七楼八楼中间"),
        ("我妈有新章病", "我妈有心脏病"),
        ("外婆啱啱一边手脚郁唔到", "外婆刚刚一边手脚动不了"),
        ("阿公唔应人 唔郁", "阿公不应人不动"),
        ("佢好似抖唔到气", "他好似透不到气"),
        ("阿嫲喺廚房跌低咗 起唔到身", "奶奶在厨房摔倒了起不来"),
        ("個細路俾滾水淥親", "个小孩给滚水烫着"),
        ("老伴兒的制養雞不轉了", "老伴儿的制氧机不转了"),
        # Heard by a recogniser; Sichuan, Cantonese and Shanghainese (written here, not taken from batch 28).
        ("厨房有梅奇味 我妈的呼息鸡也停了", "厨房有煤气味我妈的呼吸机也停了"),
        ("快叫就护车 我爸甩倒了", "快叫救护车我爸摔倒了"),
        ("隔壁着活了", "隔壁着火了"),
        ("我老汉儿脑壳痛得遭不住", "我爸头痛得受不了"),
        ("我哋返屋企食飯", "我们回家吃饭"),
        ("佢喺屋企出唔到去", "他在家出不去"),
        ("我同阿媽傾緊電話", "我同阿妈正在聊电话"),
        ("樓下有部櫃員機", "楼下有部取款机"),
    ],
)
def test_misheard_words_and_cantonese_phrases_read_as_the_mandarin_meant(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_staff_words_keep_their_misheard_spelling_so_older_rules_files_still_load() -> None:
    assert fold("救名") == "救名"


def test_cantonese_please_is_not_read_as_should_not() -> None:
    # Folded a character at a time, 唔该 ("please") had read as 不该 ("should not").
    assert normalize("唔該快啲派人上去") == "麻烦快点派人上去"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("阿媽話佢頭暈", "阿妈说他头晕"),
        ("我妈打电话来", "我妈打电话来"),
        ("他说话不清楚", "他说话不清楚"),
    ],
)
def test_cantonese_says_after_a_person_reads_as_mandarin_and_phone_calls_are_untouched(
    text: str, expected: str
) -> None:
    assert normalize(text) == expected

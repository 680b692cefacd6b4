"""Text normalization shared by the intent classifier and the router.

Residents type in simplified or traditional characters, with full-width letters, emoji and
punctuation, and voice transcripts are full of fillers (喂, 那个, 嗯...). Everything downstream
matches substrings, so it sees one canonical form: simplified, half-width, lower-case, with no
whitespace, punctuation or fillers.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
import warnings

import zhconv

FILLERS = ("就是说", "那个", "喂", "嘛", "呃", "嗯", "啊", "哎")

# 喂 also means "to feed" (喂药, 喂猫) and 嘛 ends 干嘛, so those two are only dropped where they
# cannot be part of a word: 喂 as a phone greeting, 嘛 as a sentence-final particle.
_EDGE_FILLERS = "|".join(word for word in FILLERS if word not in {"喂", "嘛"})
_GREETINGS = "你好|您好|在吗|在不在"
_LEADING = re.compile(rf"^(?:{_EDGE_FILLERS}|喂+(?=$|{_EDGE_FILLERS}|{_GREETINGS}))+")
_TRAILING = re.compile(rf"(?:{_EDGE_FILLERS}|(?<![干搞])嘛)+$")
_CHINESE_DIGITS = dict(zip("零一二两三四五六七八九", (0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True))
# Characters that carry the same word in other writing: Cantonese particles and pronouns, 俺, and 著
# (zhconv keeps it, but residents who write 著火 mean 着火). Matching sees the Mandarin word.
_CHARACTER_FOLDS = str.maketrans(
    {
        "咗": "了",
        "喺": "在",
        "冇": "没",
        "唔": "不",
        "佢": "他",
        "嘅": "的",
        "啲": "点",
        "嚟": "来",
        "攞": "拿",
        "畀": "给",
        "揾": "找",
        "睇": "看",
        "俾": "给",
        "俺": "我",
        "勿": "不",
        "著": "着",
        # Hokkien (Minnan) and Hakka as typed on Taiwanese and Fujianese phones:
        # not, at, I (twice), mouth, a final particle, kill, home, all, where.
        "毋": "不",
        "伫": "在",
        "阮": "我",
        "𠊎": "我",
        "喙": "嘴",
        "矣": "了",
        "刣": "杀",
        "厝": "家",
        "拢": "都",
        "佗": "哪",
        # Cantonese: shout, hold, defecate, things, plural, lift (zhconv writes 𨋢 as 䢂), scald.
        "嗌": "喊",
        "揸": "拿",
        "屙": "拉",
        "嘢": "东西",
        "哋": "们",
        "䢂": "电梯",
        "𨋢": "电梯",
        "渌": "烫",
    }
)
# Cantonese phrases whose characters the folds above would misread (唔该 is "please", not 不该):
# matched on the simplified text before those folds.
_BEFORE_FOLDS = {"唔该": "麻烦", "唔使": "不用", "唔识郁": "动不了", "唔好挂住": "不要挂念"}
_BEFORE = re.compile("|".join(sorted(_BEFORE_FOLDS, key=len, reverse=True)))
# Words a speech recogniser systematically hears as others (着伙 for 着火, 点题 for 电梯), and
# Cantonese phrases no single character carries (郁不到: cannot move; 抖不到气: cannot breathe).
# Messages are matched as the word meant. Staff words are not folded (fold()), so a rules file that
# still lists 救名 beside 救命 loads as before; its 救名 simply never fires.
_WORD_FOLDS = {
    "着伙": "着火",
    "救名": "救命",
    "云倒": "晕倒",
    "点题": "电梯",
    "新章病": "心脏病",
    "心章病": "心脏病",
    "燃起味": "燃气味",
    "郁不到": "动不了",
    "郁不了": "动不了",
    "不郁": "不动",
    "抖不到气": "透不到气",
    "抖不过气": "透不过气",
    "啱啱": "刚刚",
    # Hokkien and Hakka words (folded characters already read: 厝 is 家, 毋 is 不): fall, faint, hands and
    # feet, eyes, head, days, hit by a car (zhconv writes 挵 as 弄), a child, come quick, want to.
    "跋倒": "摔倒",
    "跋落": "摔下",
    "昏去": "昏过去",
    "手跤": "手脚",
    "目睭": "眼睛",
    "反白": "翻白",
    "无应": "不应",
    "无清楚": "不清楚",
    "头壳": "脑子",
    "无想": "不想",
    "无看着": "没看到",
    "几落工": "好几天",
    "批信": "信件",
    "予车弄着": "被车撞着",
    "予车": "被车",
    "车弄着": "车撞着",
    "细人子": "小孩",
    "紧来": "快来",
    "卡紧": "赶紧",
    "倒爿": "左边",
    "正爿": "右边",
    "肚屎": "肚子",
    "么个": "什么",
    "欲杀": "要杀",
    "想欲": "想要",
    "欲活": "要活",
    # Typed by sound (pinyin input picks the wrong word): heart, mouth crooked, speech, leaking current,
    # breath, help, come.
    "新脏": "心脏",
    "最歪": "嘴歪",
    "说不出化": "说不出话",
    "露电": "漏电",
    "端不上": "喘不上",
    "不上起": "不上气",
    "求命": "救命",
    "快未": "快来",
    "起不未": "起不来",
    "老投": "老头",
    "中封": "中风",
    # 皿 looks like 血 and is typed for it.
    "流皿": "流血",
    "多皿": "多血",
    "制养鸡": "制氧机",
    "制氧鸡": "制氧机",
    "制养机": "制氧机",
    "一样化碳": "一氧化碳",
    "烧坑": "烧炕",
    # heard by a recogniser (batch 28): gas, its bill, a ventilator, an ambulance, fell, on fire.
    "梅奇": "煤气",
    "燃其": "燃气",
    "呼息": "呼吸",
    "呼息鸡": "呼吸机",
    "呼息机": "呼吸机",
    "呼吸鸡": "呼吸机",
    "就护车": "救护车",
    "甩倒": "摔倒",
    "着活了": "着火了",
    # Cantonese told by relatives far away (characters already folded: 唔 is 不, 咗 is 了, 佢 is 他):
    # fell, cannot get up, rolled down, fell from, fire, hack, chest tight, hurt by (亲), all (晒),
    # people, now, just now, at once, afraid, concrete, following, standing, saying, eating, lying.
    "跌低": "摔倒",
    "起不到身": "起不来",
    "起不了身": "起不来",
    "不识郁": "动不了",
    "碌落": "滚下",
    "跌落": "掉下",
    "落去": "下去",
    "火烛": "着火",
    "斩人": "砍人",
    "心口翳": "心口闷",
    "胸口翳": "胸口闷",
    "哽亲": "噎着",
    "鲠亲": "噎着",
    "烫亲": "烫着",
    "撞亲": "撞着",
    "跌亲": "摔着",
    "咬亲": "咬伤",
    "割亲": "割伤",
    "电亲": "电着",
    "起晒泡": "起了泡",
    "软晒": "软了",
    "肿晒": "肿了",
    "紫晒": "紫了",
    "细路": "小孩",
    "细佬": "弟弟",
    "老豆": "爸",
    "后生仔": "年轻人",
    "阿嫲": "奶奶",
    "嫲嫲": "奶奶",
    "隔篱": "隔壁",
    "隔离屋": "隔壁屋",
    "隔离邻居": "隔壁邻居",
    "而家": "现在",
    "头先": "刚才",
    "即刻": "马上",
    "成日": "整天",
    "今朝": "今早",
    "好惊": "好怕",
    "石屎": "水泥",
    "跟住": "跟着",
    "追住": "追着",
    "拿住": "拿着",
    "企不": "站不",
    "企都": "站都",
    "讲不出": "说不出",
    "讲不到东西": "说不出话",
    "食了": "吃了",
    "食完": "吃完",
    "食饭": "吃饭",
    "食错": "吃错",
    "食药": "吃药",
    "饮了": "喝了",
    "瞓在": "躺在",
    "瞓不低": "睡不着",
    "困了在": "困在",
    "仲在": "还在",
    "仲有": "还有",
    "挂住": "挂念",
    # V咗俾: given to (寄咗俾我, sent to me)
    "了给": "给",
    # Hunan and Sichuan: grandmother, old man, children, no (没得).
    "娭毑": "奶奶",
    "老倌子": "老头子",
    "崽女": "儿女",
    "没得意思": "没意思",
    # Sichuan: head, at home, father, cannot bear it, cannot say clearly (batch 28).
    "脑壳": "头",
    "屋头": "家里",
    "老汉儿": "爸",
    "遭不住": "受不了",
    "说不伸展": "说不清楚",
    # Cantonese: home, go home, cannot get out, a cash machine, on the phone now (紧 after a verb).
    "返屋企": "回家",
    "屋企": "家",
    "出不到去": "出不去",
    "柜员机": "取款机",
    "倾紧": "正在聊",
    # Shanghainese: mother, we/my.
    "姆妈": "妈",
}
_WORDS = re.compile("|".join(sorted(_WORD_FOLDS, key=len, reverse=True)))
# Cantonese 话 after a person is "says" (阿妈话, 佢话): read as 说, so a retold worry reads like the
# Mandarin one; 电话, 说话, 话费 and the like are untouched.
_SAID = re.compile("(?<=[妈爸爷嫲婆公他她我们仔女姐哥弟妹伯叔姨])话(?![费筒题剧说语])")
# Pure hesitation sounds: never part of a word, so they go wherever they are.
_HESITATIONS = re.compile("[呃嗯]")


def normalize(text: str) -> str:
    """A resident's message as simplified, half-width, lower-case text without punctuation or fillers."""
    clauses = (_strip_fillers(clause) for clause in _clauses(_folded(text)))
    return "".join(clauses)


def fold(text: str) -> str:
    """Like normalize but keeps fillers: for keywords and phrases written by staff."""
    return "".join(_clauses(simplify(text).translate(_CHARACTER_FOLDS)))


def _folded(text: str) -> str:
    """Simplified text with dialect characters and misheard words read as the Mandarin meant."""
    simplified = _BEFORE.sub(lambda match: _BEFORE_FOLDS[match.group()], simplify(text))
    folded = simplified.translate(_CHARACTER_FOLDS)
    return _SAID.sub("说", _WORDS.sub(lambda match: _WORD_FOLDS[match.group()], folded))


def simplify(text: str) -> str:
    """Full-width to half-width, traditional to simplified, lower-case; spaces and punctuation kept."""
    _load_zhconv()
    return zhconv.convert(unicodedata.normalize("NFKC", text), "zh-hans").lower()


def _clauses(text: str) -> list[str]:
    """The runs of letters and digits between whitespace, punctuation and symbols (emoji included)."""
    groups = itertools.groupby(text, key=_is_word_char)
    return ["".join(chars) for is_word, chars in groups if is_word]


def _is_word_char(char: str) -> bool:
    """Letters (CJK included) and digits; everything else separates clauses."""
    return unicodedata.category(char)[0] in "LN"


def _strip_fillers(clause: str) -> str:
    """Drop fillers at the edges of a clause, and hesitation sounds anywhere."""
    clause = _TRAILING.sub("", _LEADING.sub("", clause))
    return _HESITATIONS.sub("", clause)


@functools.cache
def _load_zhconv() -> None:
    """Load zhconv's dictionary once, on first use."""
    # zhconv opens its dictionary file without closing it; the warning is not ours to fix.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        zhconv.loaddict()


def int_from_text(text: str) -> int:
    """Arabic or simple Chinese numerals up to 99."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CHINESE_DIGITS.get(tens, 1) if tens else 1) * 10 + (
            _CHINESE_DIGITS.get(ones, 0) if ones else 0
        )
    return int("".join(str(_CHINESE_DIGITS[ch]) for ch in text))

"""Which register field each header of a staff spreadsheet means, as staff write them (docs/register.md).

Headers are compared after folding: simplified, half-width, lower-case, without spaces, punctuation or a
trailing note in brackets ('电话(必填)'). A digit in a family contact's header numbers the contact
('联系人2电话'); an unnumbered contact column whose part the current contact already has starts the next
contact, so a sheet may simply repeat 紧急联系人, 关系, 联系人电话.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from handlers.language.normalize import fold, simplify

# Field -> (how the import's notes name it, the spellings staff write). Where two columns mean one field,
# the one spelled earlier here is read (手机 before 电话, 姓名 before 户主姓名), else the leftmost.
SPELLINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": ("本人姓名", ("姓名", "居民姓名", "老人姓名", "名字", "户主姓名", "户主")),
    "phone": (
        "本人电话",
        ("手机", "手机号", "手机号码", "本人手机", "本人电话", "电话", "电话号码", "联系电话", "联系方式"),
    ),
    "building": ("楼号", ("楼号", "楼栋", "楼栋号", "栋号", "楼幢", "幢号", "楼", "栋", "幢")),
    "unit": ("单元", ("单元", "单元号")),
    "room": ("房号", ("房号", "门牌号", "门牌", "房间号", "室号", "房间", "室")),
    "address": ("住址", ("住址", "地址", "家庭住址", "居住地址", "现住址", "详细地址")),
    "category": ("户别", ("户别", "户类", "户类别", "家庭类别", "人员类别", "困难类型", "困难类别")),
    "alone": ("是否独居", ("是否独居", "独居", "是否独居老人", "独居老人")),
    "checkin": ("签到时间", ("签到时间", "报平安时间")),
    "openid": ("本人微信openid", ("微信openid", "openid", "本人微信openid")),
    "family.name": (
        "家属姓名",
        ("家属姓名", "家属", "紧急联系人", "紧急联系人姓名", "联系人", "联系人姓名", "监护人", "监护人姓名"),
    ),
    "family.relation": (
        "家属关系",
        ("家属关系", "关系", "与本人关系", "与老人关系", "联系人关系", "紧急联系人关系", "监护人关系"),
    ),
    "family.phone": (
        "家属电话",
        (
            "家属电话",
            "家属手机",
            "家属联系电话",
            "联系人电话",
            "联系人手机",
            "紧急联系电话",
            "紧急联系人电话",
            "监护人电话",
            "监护人手机",
        ),
    ),
    "family.openid": ("家属微信openid", ("家属微信openid", "家属openid")),
}
# Phone headers that name nobody: right after a contact's name or relation column (and that contact has
# no phone column yet) they are the contact's phone; anywhere else the resident's own.
UNQUALIFIED_PHONES = frozenset(("手机", "手机号", "手机号码", "电话", "电话号码", "联系电话", "联系方式"))
FAMILY_PARTS = ("name", "relation", "phone", "openid")

_RANKS = {word: (key, rank) for key, (_, words) in SPELLINGS.items() for rank, word in enumerate(words)}
_TRAILING_NOTE = re.compile(r"[(\[【].*?[)\]】]\s*$")
_NUMBERED = re.compile(r"^(\D*?)(\d{1,2})(\D*)$")
_FAMILY_KEY = re.compile(r"^family(\d+)\.(\w+)$")


@dataclass
class Header:
    """What a header row means: column index -> field key, the columns not read, and a note for each."""

    columns: dict[int, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def has(self, *keys: str) -> bool:
        """True when every key is read from some column."""
        return all(key in self.columns.values() for key in keys)


@dataclass(frozen=True)
class _Spelling:
    """One header cell as recognised: its field, contact number if written, and rank among spellings."""

    key: str
    number: int | None
    rank: int
    unqualified_phone: bool


def header_word(text: str) -> str:
    """'電話(必填)' -> '电话'; '* 姓 名' -> '姓名'."""
    return fold(_TRAILING_NOTE.sub("", simplify(text).strip()))


def read_header(texts: list[str]) -> Header:
    """The fields a row of header cells names, with the reason for each column left unread."""
    header = Header()
    candidates: dict[str, list[tuple[int, int]]] = {}  # field key -> (rank, column index)
    contact = 0  # the family contact that unnumbered contact columns fill
    previous: str | None = None
    for index, text in enumerate(texts):
        spelling = _recognise(text)
        key = None if spelling is None else _key(spelling, previous, candidates, contact)
        if spelling is None or key is None:
            if text:
                header.ignored.append(text)
                header.notes.append(f"未识别的列:{text}(不是台账的列,已忽略)")
            previous = None
            continue
        if (number := _contact_number(key)) is not None:
            contact = number
            if spelling.key == "phone":
                header.notes.append(f"列‘{text}’紧跟在联系人后面,当作{_label(key)}")
        candidates.setdefault(key, []).append((spelling.rank, index))
        previous = key
    for key, found in candidates.items():
        _, winner = min(found)
        header.columns[winner] = key
        for _, loser in sorted(found)[1:]:
            header.ignored.append(texts[loser])
            header.notes.append(
                f"列‘{texts[loser]}’与‘{texts[winner]}’都表示{_label(key)},用了‘{texts[winner]}’"
            )
    _settle_address(header, texts)
    _drop_nameless_contacts(header, texts)
    header.columns = dict(sorted(header.columns.items()))
    return header


def _recognise(text: str) -> _Spelling | None:
    """The field a header cell's spelling names; a number is kept for contact columns only."""
    word, number = header_word(text), None
    if word not in _RANKS and (match := _NUMBERED.match(word)):
        word, number = match.group(1) + match.group(3), int(match.group(2))
    if word not in _RANKS:
        return None
    key, rank = _RANKS[word]
    unqualified = word in UNQUALIFIED_PHONES
    if number is not None and not key.startswith("family.") and not unqualified:
        return None
    return _Spelling(key, number, rank, unqualified)


def _key(
    spelling: _Spelling, previous: str | None, candidates: dict[str, list[tuple[int, int]]], contact: int
) -> str | None:
    """The column's field key: 'phone', 'family2.name' ...; None for a number on the resident's own field."""
    beside = _FAMILY_KEY.match(previous or "")
    if spelling.unqualified_phone and beside and beside.group(2) in ("name", "relation"):
        number = int(beside.group(1))
        if f"family{number}.phone" not in candidates and spelling.number in (None, number):
            return f"family{number}.phone"
    if not spelling.key.startswith("family."):
        return spelling.key if spelling.number is None else None
    part = spelling.key.removeprefix("family.")
    number = spelling.number
    if number is None:
        number = contact if contact and f"family{contact}.{part}" not in candidates else contact + 1
    return f"family{number}.{part}"


def _contact_number(key: str) -> int | None:
    """2 for 'family2.phone'; None for the resident's own fields."""
    match = _FAMILY_KEY.match(key)
    return int(match.group(1)) if match else None


def _label(key: str) -> str:
    """How a note names a field: '本人电话', '家属电话', '家属2电话'."""
    match = _FAMILY_KEY.match(key)
    if match is None:
        return SPELLINGS[key][0]
    label = SPELLINGS[f"family.{match.group(2)}"][0]
    number = int(match.group(1))
    return label if number == 1 else label.replace("家属", f"家属{number}", 1)


def _settle_address(header: Header, texts: list[str]) -> None:
    """A whole-address column is read only when the sheet lacks a 楼号 or 房号 column, and then alone."""
    at = {key: index for index, key in header.columns.items()}
    if "address" not in at:
        return
    if header.has("building", "room"):
        _drop(header, texts, at["address"], "楼号和房号已有单独的列,已忽略")
        return
    for key in ("building", "unit", "room"):
        if key in at:
            _drop(header, texts, at[key], f"地址按‘{texts[at['address']]}’列读取,已忽略")


def _drop_nameless_contacts(header: Header, texts: list[str]) -> None:
    """A contact's relation, phone or openid with no name column for them cannot make a family contact."""
    named = {_contact_number(key) for key in header.columns.values() if key.endswith(".name")}
    for index, key in list(header.columns.items()):
        number = _contact_number(key)
        if number is not None and number not in named:
            _drop(header, texts, index, "没有对应的联系人姓名列,无法登记家属,已忽略")


def _drop(header: Header, texts: list[str], index: int, reason: str) -> None:
    """Stop reading one column, and say why."""
    del header.columns[index]
    header.ignored.append(texts[index])
    header.notes.append(f"列‘{texts[index]}’:{reason}")

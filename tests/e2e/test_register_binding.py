"""Identity before an elder's record: binding to a register entry through the real webhook.

王秀英 lives alone at 2号楼1单元402 (grid 1, worker 王芳). She is in the register with her phone, an 08:30
check-in and her son 李强, but not on WeChat. An address alone must not hand any of that to a stranger.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from handlers.register.entries import is_placeholder
from handlers.register.importer import import_register
from handlers.routing.actions import RESIDENT_ONLY_COMMAND
from storage.db import transaction
from storage.models import CheckIn, Resident
from tests.conftest import command_env, pushes, tickets
from tests.e2e.test_register_cli import run
from tests.integration.test_checkins import CheckInDesk

STRANGER, DAUGHTER, NEIGHBOUR = "o-stranger", "o-daughter", "o-neighbour"
WANG, LI, ZHAO = "demo-worker-wang", "demo-worker-li", "demo-leader-zhao"
HEADER = "姓名,电话,楼号,单元,房号,户别,是否独居,签到时间,家属姓名,家属关系,家属电话"
WANG_XIUYING = "王秀英,13800000111,2号楼,1,402,特困,是,08:30,李强,儿子,13800000211"
# Everything of hers a stranger must not see, in full or masked.
PERSONAL = ("王秀英", "王*英", "13800000111", "138****0111", "李强", "13800000211", "独居", "08:30")


@pytest.fixture
def register(tmp_path: Path, factory, clock) -> Path:
    """王秀英's row imported into the demo community's register."""
    path = tmp_path / "台账.csv"
    path.write_text(f"{HEADER}\n{WANG_XIUYING}\n", encoding="utf-8")
    with transaction(factory) as session:
        assert import_register(session, path, default_checkin_minute=540, now=clock()).created == 1
    return path


def person(factory, openid: str) -> Resident:
    """A resident as stored, family loaded."""
    with transaction(factory) as session:
        query = select(Resident).where(Resident.openid == openid)
        query = query.options(selectinload(Resident.family), selectinload(Resident.building))
        return session.scalars(query).one()


def entry(factory) -> Resident | None:
    """王秀英's register entry while nobody has taken it over, else None."""
    with transaction(factory) as session:
        query = select(Resident).where(Resident.openid.startswith("register:"))
        return session.scalars(query.options(selectinload(Resident.family))).one_or_none()


def assert_nothing_personal(text: str | None) -> None:
    for detail in PERSONAL:
        assert detail not in (text or ""), detail


def assert_took_nothing(factory, openid: str) -> None:
    """The WeChat user is in the flat but has none of the entry's details; the entry keeps them."""
    them = person(factory, openid)
    assert (them.address, them.name, them.phone) == ("2号楼1单元402", None, None)
    assert (them.lives_alone, them.checkin_minute, them.household_category, them.family) == (
        False,
        None,
        "ordinary",
        [],
    )
    kept = entry(factory)
    assert kept is not None and (kept.name, kept.phone, kept.checkin_minute) == ("王秀英", "13800000111", 510)
    assert [c.name for c in kept.family] == ["李强"]


def claim_push_number(factory) -> int:
    """The number in the worker's "确认绑定 N" of the newest claim push."""
    [push] = [p for p in pushes(factory) if p.kind == "binding_claim"][-1:]
    found = re.search(r"确认绑定 (\d+)", push.text)
    assert found is not None
    return int(found.group(1))


def issued_code(reply: str | None) -> str:
    found = re.search(r"绑定码:(\d{6})", reply or "")
    assert found is not None, reply
    return found.group(1)


# The attack


def test_an_address_alone_gets_a_stranger_nothing_of_an_elders_record_and_her_worker_is_told(
    wechat, factory, register
) -> None:
    reply = wechat.say(STRANGER, "绑定 2号楼1单元402")

    assert reply is not None and reply.startswith("登记成功:2号楼1单元402,属于第一网格。")
    assert "需要网格员核实您的身份" in reply and "已和社区台账中的登记信息关联" not in reply
    assert_nothing_personal(reply)
    assert_took_nothing(factory, STRANGER)
    [push] = pushes(factory)
    assert (push.recipient, push.kind) == (WANG, "binding_claim")
    assert "【居民申请绑定】2号楼1单元402(登记人 王*英)" in push.text and "确认绑定 1" in push.text
    assert "王秀英" not in push.text and "13800000111" not in push.text
    # Asking again changes nothing and does not push the worker twice.
    assert "需要网格员核实" in wechat.say(STRANGER, "绑定 2号楼1单元402")
    assert len(pushes(factory)) == 1
    for question in ("我的工单", "帮助", "我叫什么名字", "我的电话是多少"):
        assert_nothing_personal(wechat.say(STRANGER, question))


def test_until_proven_the_resident_is_served_by_the_grid_worker_and_an_emergency_comes_first(
    wechat, factory, register
) -> None:
    wechat.say(STRANGER, "家里水管漏了")  # before binding: the duty desk, asked for the address
    assert "您之前的工单 #1 已转给网格员跟进" in wechat.say(STRANGER, "绑定 2号楼1单元402")
    reply = wechat.say(STRANGER, "电视没信号了")
    assert "#2" in reply and "网格员王芳" in reply
    fire = wechat.say(STRANGER, "救命 着火了")
    assert "119" in fire.splitlines()[0] and "#3" in fire

    leak, tv, emergency = tickets(factory)
    assert all(t.assignee.name == "王芳" and t.grid.code == "G1" for t in (leak, tv))
    assert (emergency.category, emergency.grid.code) == ("emergency", "G1")
    paged = {p.recipient for p in pushes(factory) if p.ticket_id == emergency.id}
    assert paged == {WANG, ZHAO}
    # The worker sees an unnamed resident at the flat, not the elder: a stranger cannot pose as her.
    for push in pushes(factory):
        if push.ticket_id is not None and push.recipient != STRANGER:
            assert "未登记姓名" in push.text and "13800000111" not in push.text
    assert_took_nothing(factory, STRANGER)


def test_until_proven_nobody_answers_the_elders_check_in_for_her(
    wechat, factory, settings, classifier, clock, register
) -> None:
    wechat.say(STRANGER, "绑定 2号楼1单元402")
    desk = CheckInDesk(factory, settings, classifier, clock)
    desk.at("09:00", day=1)
    desk.new_pushes()

    desk.pings()

    sent = desk.new_pushes()
    assert STRANGER not in {p.recipient for p in sent}
    [call_list] = [p for p in sent if p.recipient == WANG and p.kind == "checkin_call_list"]
    assert "王秀英 13800000111 · 2号楼1单元402 · 未绑定微信" in call_list.text
    desk.at("09:05", day=1)
    assert "收到您的平安" not in (wechat.say(STRANGER, "1") or "")
    assert "收到您的平安" not in (wechat.say(STRANGER, "我很好") or "")
    assert desk.checkin(STRANGER, day=1) is None
    with transaction(factory) as session:
        row = session.scalars(select(CheckIn).where(CheckIn.resident_id == entry(factory).id)).one()
        assert (row.status, row.answered_at) == ("unreachable", None)


# Proof: the worker's one reply


def test_the_worker_confirms_with_one_reply_and_the_family_member_takes_over_the_entry(
    wechat, factory, settings, classifier, clock, register
) -> None:
    wechat.say(DAUGHTER, "绑定 2号楼1单元402")
    number = claim_push_number(factory)

    reply = wechat.say(WANG, f"确认绑定 {number}")

    assert reply == f"已确认绑定 #{number}:2号楼1单元402(登记人 王*英)的台账信息已关联到这位居民的微信。"
    told = pushes(factory)[-1]
    assert told.recipient == DAUGHTER and "网格员王芳已核实您的身份" in told.text
    her = person(factory, DAUGHTER)
    assert (her.name, her.phone, her.lives_alone, her.checkin_minute) == ("王秀英", "13800000111", True, 510)
    assert [c.name for c in her.family] == ["李强"] and entry(factory) is None
    # The check-in is hers now: pinged at 08:30, and her "1" counts.
    desk = CheckInDesk(factory, settings, classifier, clock)
    desk.at("08:30", day=1)
    desk.new_pushes()
    desk.pings()
    assert [p.kind for p in desk.new_pushes() if p.recipient == DAUGHTER] == ["checkin_ping"]
    assert "收到您的平安" in wechat.say(DAUGHTER, "1")
    assert "已经确认过了" in wechat.say(WANG, f"确认绑定 {number}")


def test_the_worker_refuses_and_the_resident_keeps_the_flat_but_never_the_record(
    wechat, factory, register
) -> None:
    wechat.say(STRANGER, "绑定 2号楼1单元402")
    number = claim_push_number(factory)

    assert "已拒绝绑定" in wechat.say(WANG, f"拒绝绑定 {number}")

    told = pushes(factory)[-1]
    assert told.recipient == STRANGER and "网格员没有确认" in told.text
    assert_nothing_personal(told.text)
    assert_took_nothing(factory, STRANGER)
    assert "网格员王芳" in wechat.say(STRANGER, "楼道灯坏了")


def test_only_staff_of_the_flats_grid_may_confirm(wechat, factory, register) -> None:
    wechat.say(STRANGER, "绑定 2号楼1单元402")
    number = claim_push_number(factory)

    assert "不属于您负责的网格" in wechat.say(LI, f"确认绑定 {number}")
    assert wechat.say(STRANGER, f"确认绑定 {number}") == RESIDENT_ONLY_COMMAND
    assert "没有找到绑定申请 #99" in wechat.say(WANG, "确认绑定 99")

    assert_took_nothing(factory, STRANGER)


def test_a_claim_ends_when_the_resident_binds_another_flat(wechat, factory, register) -> None:
    wechat.say(STRANGER, "绑定 2号楼1单元402")
    number = claim_push_number(factory)
    wechat.say(STRANGER, "绑定 2号楼1单元403")

    assert "已失效" in wechat.say(WANG, f"确认绑定 {number}")
    assert person(factory, STRANGER).name is None and entry(factory) is not None


# Proof: a code the worker hands over


def test_a_code_from_the_worker_binds_in_one_message_and_only_once(wechat, factory, register) -> None:
    code = issued_code(wechat.say(WANG, "绑定码 2号楼1单元402"))

    reply = wechat.say(DAUGHTER, f"绑定 2号楼1单元402 {code}")

    assert "绑定码正确" in reply and "已和社区台账中的登记信息关联" in reply
    assert person(factory, DAUGHTER).checkin_minute == 510 and entry(factory) is None
    assert [p.kind for p in pushes(factory)] == []  # nothing for the worker to do
    # The code is spent: the same six digits bind nobody else.
    assert "绑定码正确" not in wechat.say(NEIGHBOUR, f"绑定 2号楼1单元402 {code}")
    assert person(factory, NEIGHBOUR).name is None


def test_a_code_sent_after_the_address_binds_too(wechat, factory, register) -> None:
    assert "6位绑定码" in wechat.say(DAUGHTER, "绑定 2号楼1单元402")
    code = issued_code(wechat.say(WANG, "绑定码 2号楼1单元402"))

    assert "绑定码正确" in wechat.say(DAUGHTER, code)

    assert person(factory, DAUGHTER).name == "王秀英"
    assert "已经确认过了" in wechat.say(WANG, f"确认绑定 {claim_push_number(factory)}")


def test_wrong_codes_are_refused_politely_and_five_lock_the_claim(wechat, factory, register) -> None:
    code = issued_code(wechat.say(WANG, "绑定码 2号楼1单元402"))
    wechat.say(STRANGER, "绑定 2号楼1单元402")
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    replies = [wechat.say(STRANGER, f"{(int(code) + n) % 10**6:06d}") for n in range(1, 5)]
    assert replies[0] == "绑定码不对或已过期,请核对后再发一次(还可以试4次)。也可以请网格员直接确认。"
    assert "还可以试1次" in replies[-1]
    locked = wechat.say(STRANGER, wrong)
    assert locked == "绑定码错误次数太多,已暂停验证。请直接联系网格员王芳(电话 13900000002)核实身份。"

    # Locked: even the right code does nothing now, and the worker hears of it.
    assert "错误次数太多" in wechat.say(STRANGER, code)
    assert_took_nothing(factory, STRANGER)
    [alarm] = [p for p in pushes(factory) if p.kind == "binding_locked"]
    assert alarm.recipient == WANG and "2号楼1单元402(登记人 王*英)" in alarm.text
    # Five wrong guesses also spent the worker's code: the real family member needs a new one.
    assert "绑定码正确" not in wechat.say(DAUGHTER, f"绑定 2号楼1单元402 {code}")
    fresh = issued_code(wechat.say(WANG, "绑定码 2号楼1单元402"))
    assert "绑定码正确" in wechat.say(DAUGHTER, fresh)


def test_moving_away_and_back_buys_no_more_guesses(wechat, factory, register) -> None:
    wechat.say(STRANGER, "绑定 2号楼1单元402")
    for n in range(5):
        wechat.say(STRANGER, f"00000{n}")
    wechat.say(STRANGER, "绑定 2号楼1单元403")
    wechat.say(STRANGER, "绑定 2号楼1单元402")
    code = issued_code(wechat.say(WANG, "绑定码 2号楼1单元402"))

    assert "错误次数太多" in wechat.say(STRANGER, code)
    assert_took_nothing(factory, STRANGER)


def test_a_worker_code_survives_at_most_five_wrong_guesses_from_anyone(wechat, factory, register) -> None:
    code = issued_code(wechat.say(WANG, "绑定码 2号楼1单元402"))
    guessers = [f"o-guesser-{n}" for n in range(5)]
    for n, openid in enumerate(guessers, start=1):
        wechat.say(openid, "绑定 2号楼1单元402")
        assert "绑定码不对" in wechat.say(openid, f"{(int(code) + n) % 10**6:06d}")

    assert "绑定码正确" not in wechat.say(guessers[0], code)
    assert entry(factory) is not None


def test_an_expired_code_is_refused(wechat, factory, clock, register) -> None:
    code = issued_code(wechat.say(WANG, "绑定码 2号楼1单元402"))
    clock.advance(hours=72, seconds=1)

    assert "绑定码不对或已过期" in wechat.say(DAUGHTER, f"绑定 2号楼1单元402 {code}")
    assert_took_nothing(factory, DAUGHTER)
    # Wrong in the first message: the worker is asked to confirm instead.
    assert [p.kind for p in pushes(factory)] == ["binding_claim"]


def test_a_code_without_a_claim_asks_for_the_address_first(wechat, factory, register) -> None:
    code = issued_code(wechat.say(WANG, "绑定码 2号楼1单元402"))
    assert "请先回复您的住址" in wechat.say(DAUGHTER, f"绑定码 {code}")
    assert entry(factory) is not None


def test_only_staff_of_the_flats_grid_get_codes(wechat, register) -> None:
    assert "不属于您负责的网格" in wechat.say(LI, "绑定码 2号楼1单元402")
    assert "没有尚未绑定微信的台账登记" in wechat.say(WANG, "绑定码 2号楼1单元403")


# What needs proof


def test_an_entry_with_nothing_personal_still_binds_by_address(wechat, factory, clock, tmp_path) -> None:
    path = tmp_path / "台账.csv"
    path.write_text(f"{HEADER}\n赵德明,,2号楼,1,402,普通,否,不签到,,,\n", encoding="utf-8")
    with transaction(factory) as session:
        import_register(session, path, default_checkin_minute=540, now=clock())

    assert "已和社区台账中的登记信息关联" in wechat.say(STRANGER, "绑定 2号楼1单元402")
    assert person(factory, STRANGER).name == "赵德明"
    assert pushes(factory) == []


def test_an_elder_living_alone_without_a_phone_still_needs_proof(wechat, factory, clock, tmp_path) -> None:
    path = tmp_path / "台账.csv"
    path.write_text(f"{HEADER}\n王秀英,,2号楼,1,402,普通,是,不签到,,,\n", encoding="utf-8")
    with transaction(factory) as session:
        import_register(session, path, default_checkin_minute=540, now=clock())

    assert "需要网格员核实" in wechat.say(STRANGER, "绑定 2号楼1单元402")
    assert person(factory, STRANGER).name is None and not person(factory, STRANGER).lives_alone


# The other order: bound on WeChat first, the register imported later


def test_someone_bound_before_the_import_must_still_prove_it(wechat, factory, tmp_path) -> None:
    wechat.say(STRANGER, "绑定 2号楼1单元402")
    path = tmp_path / "台账.csv"
    path.write_text(f"{HEADER}\n{WANG_XIUYING}\n", encoding="utf-8")

    imported = run(command_env(tmp_path / "griddesk.db"), "residents", "import", str(path))

    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines()[-2:] == [
        "created 1, updated 0, unchanged 0, bad 0",
        "bindings waiting for the grid worker's 确认绑定: #1 2号楼1单元402",
    ]
    assert_took_nothing(factory, STRANGER)
    [push] = pushes(factory)
    assert push.recipient == WANG and "确认绑定 1" in push.text
    assert is_placeholder(entry(factory).openid)
    # The second import finds the same claim, pushes nobody again, and changes nothing.
    again = run(command_env(tmp_path / "griddesk.db"), "residents", "import", str(path))
    assert "created 0, updated 0, unchanged 1, bad 0" in again.stdout and len(pushes(factory)) == 1
    assert "已确认绑定 #1" in wechat.say(WANG, "确认绑定 1")
    assert person(factory, STRANGER).name == "王秀英"

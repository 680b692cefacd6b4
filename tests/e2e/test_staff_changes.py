"""Staff changes over WeChat: a worker leaves the job, or moves to a new WeChat."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handlers.people.departures import DepartureError, leave, serving_worker
from handlers.people.invites import InviteError, create_invite
from storage.codes import hash_code
from storage.db import transaction
from storage.models import Grid, OutboxMessage, Worker, WorkerInvite
from storage.queries import staff
from tests.cli import code_in
from tests.conftest import pushes, tickets

ZHANG, LIU = "demo-resident-zhang", "demo-resident-liu"  # grid G1 (王芳), grid G2 (李骁)
WANG, LI, ZHAO, DUTY = "demo-worker-wang", "demo-worker-li", "demo-leader-zhao", "demo-community-duty"


def holders(factory, code: str) -> tuple[str | None, str | None]:
    """A grid's worker and leader, by name."""
    with transaction(factory) as session:
        grid = session.scalars(select(Grid).where(Grid.code == code)).one()
        return (grid.worker.name if grid.worker else None, grid.leader.name if grid.leader else None)


def worker_leaves(runtime, name: str, successor: str | None = None):
    """What `run.py worker leave --name NAME [--to SUCCESSOR]` does."""
    with transaction(runtime.factory) as session:
        worker = serving_worker(session, name)
        to = serving_worker(session, successor, worker.role) if successor else None
        return leave(runtime.services(session), worker, to)


def backup_of(factory, name: str) -> str | None:
    with transaction(factory) as session:
        backup = session.scalars(select(Worker).where(Worker.name == name)).one().backup
        return backup.name if backup else None


def pushes_to(factory, openid: str) -> list[OutboxMessage]:
    return [p for p in pushes(factory) if p.recipient == openid]


def test_a_worker_who_left_gets_nothing_more_and_their_tickets_go_up_the_ladder(
    wechat, factory, runtime
) -> None:
    assert "王芳" in wechat.say(ZHANG, "卫生间水管漏水了")
    [waiting] = pushes_to(factory, WANG)

    departure = worker_leaves(runtime, "王芳")

    assert departure.grids == ["G1"] and departure.tickets == {1: "赵建国"}
    assert departure.pushes_cancelled == 1
    cancelled = next(p for p in pushes(factory) if p.id == waiting.id)
    assert cancelled.status == "cancelled", "the new-ticket push carrying the resident's address is not sent"
    [ticket] = tickets(factory)
    assert (ticket.status, ticket.assignee.name) == ("assigned", "赵建国")
    assert ticket.events[-1].note == "王芳离岗,转派给赵建国"
    assert "转派工单" in pushes_to(factory, ZHAO)[-1].text
    assert "已转由网格长赵建国负责" in pushes_to(factory, ZHANG)[-1].text

    # Her WeChat is a resident's now: no worker commands, no tickets.
    assert "已签收" not in (wechat.say(WANG, "签收 1") or "")
    assert tickets(factory)[0].acknowledged_at is None
    # Her grid's residents are served by whoever stands next, and her AB岗 partner has no backup.
    assert "王芳" not in wechat.say(ZHANG, "楼道灯坏了")
    assert tickets(factory)[-1].assignee.name == "赵建国"
    assert backup_of(factory, "李骁") is None
    with transaction(factory) as session:
        row = next(r for r in staff(session) if r["name"] == "王芳")
    assert (row["bound"], row["left"], row["grids"]) == (False, True, [])
    with pytest.raises(DepartureError, match="no serving worker named '王芳'"):
        worker_leaves(runtime, "王芳")


def test_a_successor_takes_the_grid_the_backups_and_the_signed_tickets(
    wechat, factory, runtime
) -> None:
    wechat.say(LIU, "电费怎么充")
    assert "已签收工单 #1" in wechat.say(LI, "签收 1")
    with pytest.raises(DepartureError, match=r"no serving worker named '赵建国' \(worker\)"):
        worker_leaves(runtime, "李骁", successor="赵建国")

    departure = worker_leaves(runtime, "李骁", successor="陈静")

    assert departure.grids == ["G2"] and departure.tickets == {1: "陈静"}
    [ticket] = tickets(factory)
    assert (ticket.status, ticket.assignee.name, ticket.acknowledged_at) == ("assigned", "陈静", None)
    assert "转派工单" in pushes_to(factory, "demo-worker-chen")[-1].text
    assert backup_of(factory, "王芳") == "陈静"
    assert backup_of(factory, "陈静") is None, "nobody is their own AB岗"
    assert "已签收工单 #1" in wechat.say("demo-worker-chen", "签收 1")
    assert "网格员陈静" in pushes_to(factory, LIU)[-1].text


def test_a_worker_on_a_new_wechat_keeps_their_grid_and_tickets(wechat, factory, clock) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    with transaction(factory) as session, pytest.raises(InviteError, match="already has a WeChat bound"):
        create_invite(session, clock(), name="王芳", role="worker", grid_codes=("G1",))
    with transaction(factory) as session:
        code = create_invite(session, clock(), name="王芳", role="worker", new_wechat=True).code

    bound = wechat.say("o-wang-new-phone", f"绑定 {code}")

    assert "绑定成功" in bound and "第一网格" in bound and "原来绑定的微信已停用" in bound
    assert [p.kind for p in pushes_to(factory, "o-wang-new-phone")] == ["new_ticket"]
    assert pushes_to(factory, WANG) == []
    assert "已签收" not in (wechat.say(WANG, "签收 1") or "")
    assert "已签收工单 #1" in wechat.say("o-wang-new-phone", "签收 1")
    with transaction(factory) as session:
        assert len(list(session.scalars(select(Worker).where(Worker.name == "王芳")))) == 1


# 转派 to the holder, 上班 after 下班, and nobody on duty


def test_a_leader_passing_on_a_sent_back_ticket_is_not_told_of_their_own_act(wechat, factory) -> None:
    wechat.say(ZHANG, "楼上邻居太吵了")
    wechat.say(WANG, "退单 1 需要派出所协调")
    sent_to_zhao = len(pushes_to(factory, ZHAO))

    assert "已把工单 #1 转派给网格员李骁" in wechat.say(ZHAO, "转派 1 李骁")

    assert len(pushes_to(factory, ZHAO)) == sent_to_zhao
    assert "转派工单" in pushes_to(factory, LI)[-1].text


def test_reassigning_to_the_person_who_holds_the_ticket_changes_nothing(wechat, factory) -> None:
    wechat.say(ZHANG, "空调不制冷")
    assert "已把工单 #1 转派给网格员李骁" in wechat.say(ZHAO, "转派 1 李骁")
    before = (len(pushes(factory)), [e.kind for e in tickets(factory)[0].events])

    assert wechat.say(ZHAO, "转派 1 李骁") == "工单#1已由李骁负责,无需转派。"

    assert (len(pushes(factory)), [e.kind for e in tickets(factory)[0].events]) == before
    assert tickets(factory)[0].assignee.name == "李骁"


def test_back_on_duty_takes_back_only_what_the_backup_got_because_of_the_off_duty(wechat, factory) -> None:
    wechat.say(ZHANG, "空调不制冷")
    assert "已把工单 #1 转派给网格员李骁" in wechat.say(ZHAO, "转派 1 李骁")  # on purpose
    assert "AB岗李骁" in wechat.say(WANG, "下班")
    assert "网格员李骁" in wechat.say(ZHANG, "帮我交下暖气费")  # #2 goes to the backup by itself
    seen = len(pushes(factory))

    assert "AB岗代收的1个未签收工单已转回给您" in wechat.say(WANG, "上班")

    on_purpose, automatic = tickets(factory)
    assert (on_purpose.assignee.name, automatic.assignee.name) == ("李骁", "王芳")
    fresh = pushes(factory)[seen:]
    [to_li] = [p for p in fresh if p.recipient == LI]
    assert to_li.text == "王芳已上班,您代收的工单 #2 已转回给王芳,无需再处理。谢谢!"
    [to_zhang] = [p for p in fresh if p.recipient == ZHANG]
    assert to_zhang.text.startswith("您的工单 #2 改由网格员王芳负责")
    assert "已签收工单 #1" in wechat.say(LI, "签收 1")


def test_with_everyone_off_duty_a_ticket_still_pages_the_community_office(wechat, factory) -> None:
    for openid in (WANG, LI, ZHAO, DUTY):
        assert "已下班" in wechat.say(openid, "下班")

    reply = wechat.say(ZHANG, "马桶不下水")

    assert "社区值班台" in reply
    [ticket] = tickets(factory)
    assert (ticket.status, ticket.assignee.name) == ("assigned", "社区值班台")
    assert [p.kind for p in pushes_to(factory, DUTY)] == ["new_ticket"]


# Taking over a grid: refused unless --replace, and then nobody is surprised


def test_refused_grid_takeover_and_replace(office, wechat, factory, capsys) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")  # #1, 王芳 has not signed for it
    wechat.say(ZHANG, "帮我交下暖气费")  # #2, 王芳 signs for it
    assert "已签收工单 #2" in wechat.say(WANG, "签收 2")
    capsys.readouterr()

    assert office(["worker", "invite", "--name", "周敏", "--grid", "G1"]) == 2
    assert capsys.readouterr().err == (
        "cannot invite: G1 (第一网格) already has a grid worker, 王芳; add --replace to hand it to 周敏\n"
    )
    with transaction(factory) as session:
        assert session.scalars(select(WorkerInvite)).all() == []

    argv = ["worker", "invite", "--name", "周敏", "--grid", "G1", "--backup", "李骁", "--phone"]
    assert office([*argv, "13900000009", "--replace"]) == 0
    out = capsys.readouterr().out
    assert "Once it is bound, 周敏 takes G1 (第一网格) over from 王芳" in out
    assert holders(factory, "G1") == ("王芳", "赵建国"), "nothing changes before the code is bound"
    seen = len(pushes(factory))

    bound = wechat.say("o-zhoumin", f"绑定 {code_in(out)}")

    assert "绑定成功" in bound
    assert "您接替王芳负责第一网格。王芳未签收的工单 #1 已转给您,请尽快签收。" in bound
    assert holders(factory, "G1") == ("周敏", "赵建国")
    told = {p.recipient: p.text for p in pushes(factory)[seen:] if p.kind == "staff_change"}
    assert told == {
        WANG: "您好,第一网格的网格员已改由周敏担任,今后该网格的工单不再派给您。"
        "您未签收的工单 #1 已转给周敏。您已签收的工单 #2 仍请您办结。感谢您的付出!",
        ZHAO: "第一网格的网格员已由王芳换为周敏(电话 13900000009),特此告知。",
    }
    unsigned, signed = tickets(factory)
    assert (unsigned.assignee.name, unsigned.status) == ("周敏", "assigned")
    assert (signed.assignee.name, signed.status) == ("王芳", "acknowledged")
    assert "已转由网格员周敏负责" in pushes_to(factory, ZHANG)[-1].text
    assert "周敏" in wechat.say(ZHANG, "楼道灯坏了")


def test_a_leader_takes_over_only_the_grids_named_with_replace(office, wechat, factory, capsys) -> None:
    qian = ["worker", "invite", "--name", "钱磊", "--role", "leader", "--grid", "G1"]
    assert office([*qian, "--grid", "G2"]) == 2
    assert capsys.readouterr().err == (
        "cannot invite: G1 (第一网格) already has a grid leader, 赵建国; "
        "G2 (第二网格) already has a grid leader, 赵建国; add --replace to hand it to 钱磊\n"
    )
    assert office([*qian, "--replace"]) == 0
    code = code_in(capsys.readouterr().out)

    assert "您接替赵建国负责第一网格。" in wechat.say("o-qianlei", f"绑定 {code}")

    assert (holders(factory, "G1"), holders(factory, "G2")) == (("王芳", "钱磊"), ("李骁", "赵建国"))
    told = {p.recipient: p.text for p in pushes(factory) if p.kind == "staff_change"}
    assert told[ZHAO].startswith("您好,第一网格的网格长已改由钱磊担任")
    assert told[WANG] == "第一网格的网格长已由赵建国换为钱磊,特此告知。"


def test_a_code_made_for_an_empty_grid_cannot_take_it_from_someone_who_came_since(
    wechat, factory, runtime
) -> None:
    worker_leaves(runtime, "王芳")
    with transaction(factory) as session:
        first = create_invite(session, runtime.clock(), name="周敏", grid_codes=("G1",)).code
        second = create_invite(session, runtime.clock(), name="吴刚", grid_codes=("G1",)).code
    assert "绑定成功" in wechat.say("o-wugang", f"绑定 {second}")

    refused = wechat.say("o-zhoumin", f"绑定 {first}")

    assert refused == "第一网格已有网格员吴刚,这个绑定码不能接替。请联系社区工作人员核实后重新领取绑定码。"
    assert holders(factory, "G1") == ("吴刚", "赵建国")
    with transaction(factory) as session:
        invite = session.scalars(select(WorkerInvite).where(WorkerInvite.code_hash == hash_code(first))).one()
        assert invite.used_at is None

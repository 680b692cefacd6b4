"""What grid workers, leaders and offices do from WeChat: sign, progress, resolve, send back, reassign..."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from handlers.binding import parse_address
from handlers.claims import confirm_claim, issue_code, refuse_claim
from handlers.context import Reply, Services
from handlers.invites import find_worker
from handlers.ladder import LEADER, WORKER, ladder, level_of
from handlers.language.normalize import normalize, simplify
from handlers.lifecycle import TransitionError, apply, may_act, tell_resident, tell_worker
from handlers.recategorise import recategorise
from handlers.texts import BIND_EXAMPLE, CATEGORY_LABELS, STATUS_LABELS, local_time
from handlers.tickets import OPEN_STATUSES, hand_to, new_ticket_push, queue_push, worker_title
from handlers.visits import record_visit
from handlers.worker_media import result_photo_note
from storage.models import Grid, Ticket, Worker

# Audit events that give a ticket a new holder (handlers/tickets.py, lifecycle.py, escalation/, binding.py).
HANDOVER_EVENTS = frozenset(
    {"assigned", "reassigned", "reassign", "send_back", "escalate", "repaged", "reopen"}
)
# Of those, the ones the routing makes by itself, with the actor 系统: opening and a resident's binding.
ROUTED_EVENTS = frozenset({"assigned", "reassigned"})

COMMAND = re.compile(
    r"^(?P<verb>签收|接单|进度|办结|退单|转派|延期|改类|我的工单|上班|下班|帮助)\s*#?(?P<number>\d+)?\s*(?P<rest>.*)$",
    re.DOTALL,
)
VISIT = re.compile(r"^走访\s*(?P<target>\S*)\s*(?P<note>.*)$", re.DOTALL)
# Settling a resident's claim to a register entry, or getting a code for one (handlers/claims/).
CLAIM_ANSWER = re.compile(r"^(?P<verb>确认绑定|拒绝绑定)\s*#?(?P<number>\d+)?\s*$")
ISSUE_CODE = re.compile(r"^绑定码\s*(?P<address>.*)$")
WORKER_HELP = (
    "工单指令(编号即工单号):\n"
    "签收 12 —— 接下工单\n"
    "进度 12 已联系物业 —— 记录进展,居民会收到\n"
    "办结 12 已修好 —— 办结,系统请居民评价\n"
    "退单 12 原因 —— 退回网格长重新派单\n"
    "转派 12 姓名 —— 网格长、社区转给他人\n"
    "延期 12 24 原因 —— 办结期限延后24小时\n"
    "改类 12 紧急求助 —— 网格长、社区更正类别\n"
    "走访 3号楼2单元301 情况 —— 记录入户走访\n"
    "确认绑定 5 / 拒绝绑定 5 —— 核实居民的绑定申请\n"
    "绑定码 3号楼2单元301 —— 取得台账登记的绑定码\n"
    "我的工单 · 上班 · 下班"
)


@dataclass(frozen=True)
class Command:
    """A parsed worker command."""

    verb: str
    number: int | None
    rest: str


def parse_command(text: str) -> Command | None:
    """Read a command, tolerant of spaces, full-width digits and traditional characters."""
    match = COMMAND.match(simplify(text).strip())
    if match is None:
        return None
    number = match.group("number")
    verb = "签收" if match.group("verb") == "接单" else match.group("verb")
    return Command(verb, int(number) if number else None, " ".join(match.group("rest").split()))


def looks_like_worker_command(text: str) -> bool:
    """True for text a resident might send by mistake that only workers may use."""
    command = parse_command(text)
    if command is None:
        return CLAIM_ANSWER.match(simplify(text).strip()) is not None
    return command.verb not in ("我的工单", "帮助")


def is_worker_command(text: str) -> bool:
    """A command or a visit note, as a bound worker writes them (help and my-tickets included)."""
    plain = simplify(text).strip()
    return parse_command(text) is not None or any(
        pattern.match(plain) for pattern in (VISIT, CLAIM_ANSWER, ISSUE_CODE)
    )


def handle_worker_message(services: Services, worker: Worker, text: str) -> Reply:
    """Run one command from a bound worker; anything else gets the command list."""
    visit = VISIT.match(simplify(text).strip())
    if visit is not None:
        return record_visit(services, worker, visit.group("target"), visit.group("note").strip())
    binding = _binding_command(services, worker, simplify(text).strip())
    if binding is not None:
        return binding
    command = parse_command(text)
    if command is None or command.verb == "帮助":
        return Reply(WORKER_HELP)
    if command.verb in PLAIN_COMMANDS:
        return PLAIN_COMMANDS[command.verb](services, worker)
    if command.number is None:
        return Reply(f"请写上工单号,例如“{command.verb} 12”。")
    return act_on_ticket(services, worker, command.verb, command.number, command.rest)


def _binding_command(services: Services, worker: Worker, text: str) -> Reply | None:
    """确认绑定 N, 拒绝绑定 N, 绑定码 <address>; None for any other text."""
    answer = CLAIM_ANSWER.match(text)
    if answer is not None:
        verb, number = answer.group("verb"), answer.group("number")
        if number is None:
            return Reply(f"请写上绑定申请的编号,例如“{verb} 5”。")
        settle = confirm_claim if verb == "确认绑定" else refuse_claim
        return settle(services, worker, int(number))
    issue = ISSUE_CODE.match(text)
    if issue is None:
        return None
    address = parse_address(normalize(issue.group("address")))
    if address is None:
        return Reply(f"请写上住址,例如“绑定码 {BIND_EXAMPLE}”。")
    return issue_code(services, worker, address.building, address.unit, address.room)


def act_on_ticket(services: Services, worker: Worker, verb: str, number: int, rest: str) -> Reply:
    """Run one ticket command (签收, 进度, 办结 ...): the one path for WeChat and the staff console."""
    ticket = services.session.get(Ticket, number)
    if ticket is None:
        return Reply(f"没有找到工单 #{number},请核对编号。")
    if not may_act(worker, ticket):
        return Reply(f"工单 #{ticket.id} 不属于您负责的网格,无法操作。")
    try:
        return TICKET_COMMANDS[verb](services, worker, ticket, rest)
    except TransitionError as refusal:
        return Reply(str(refusal))


def _acknowledge(services: Services, worker: Worker, ticket: Ticket, _: str) -> Reply:
    apply(services, ticket, "acknowledge", worker.name)
    ticket.assignee = worker
    tell_resident(
        services,
        ticket,
        f"您的工单 #{ticket.id} 已由{worker_title(worker)}签收,会尽快联系您"
        f"{f'(电话 {worker.phone})' if worker.phone else ''}。",
    )
    resident = ticket.resident
    return Reply(
        f"已签收工单 #{ticket.id}。\n居民:{resident.name or '未登记姓名'} {resident.phone or ''}\n"
        f"地址:{resident.address or '未登记住址'}\n内容:{ticket.summary}\n"
        f"请在{local_time(ticket.resolve_due_at, services.settings.timezone)}前办结,"
        f"办好后回复“办结 {ticket.id} 处理说明”。"
    )


def _progress(services: Services, worker: Worker, ticket: Ticket, note: str) -> Reply:
    if not note:
        return Reply(f"请写上进展,例如“进度 {ticket.id} 已联系物业,明天上午来修”。")
    apply(services, ticket, "progress", worker.name, note)
    tell_resident(services, ticket, f"工单 #{ticket.id} 有新进展:{note}({worker_title(worker)})")
    return Reply(f"已记录工单 #{ticket.id} 的进展,居民会收到通知。")


def _resolve(services: Services, worker: Worker, ticket: Ticket, note: str) -> Reply:
    apply(services, ticket, "resolve", worker.name, note or None)
    if ticket.category == "knock":
        # A door-knock is the worker's own check on an elder: nothing for the elder to rate.
        apply(services, ticket, "close", worker.name, "敲门探访已完成")
        return Reply(f"敲门探访 #{ticket.id} 已办结,家属会收到您的说明。辛苦了!")
    ticket.rating_requested_at = services.now
    done = f":{note}" if note else "。"
    photos = result_photo_note(services, ticket)
    done += f"\n{photos}" if photos else ""
    tell_resident(
        services,
        ticket,
        f"您的工单 #{ticket.id} 已办结{done}\n请为这次服务评价:回复 1 满意,2 基本满意,3 不满意。",
        kind="rating_request",
    )
    return Reply(f"工单 #{ticket.id} 已办结,已请居民评价。辛苦了!")


def _send_back(services: Services, worker: Worker, ticket: Ticket, reason: str) -> Reply:
    if not reason:
        return Reply(f"请写上退单原因,例如“退单 {ticket.id} 不属于本网格”。")
    rungs = [rung for rung in ladder(services.session, ticket) if rung.level >= LEADER]
    target = next((w for rung in rungs for w in rung.workers if w.id != worker.id), None)
    if target is None:
        return Reply("没有可以重新派单的网格长或社区值班人员,请直接电话联系社区。")
    apply(services, ticket, "send_back", worker.name, reason)
    hand_to(services, ticket, target, level=max(LEADER, _level_of(services, ticket, target)))
    tell_worker(
        services,
        target,
        ticket,
        f"【退单】工单 #{ticket.id} 被{worker_title(worker)}退回:{reason}\n内容:{ticket.summary}\n"
        f"请回复“转派 {ticket.id} 姓名”重新派单,或“签收 {ticket.id}”自己处理。",
        kind="sent_back",
    )
    return Reply(f"已退回工单 #{ticket.id},{worker_title(target)}会重新安排。")


def _reassign(services: Services, worker: Worker, ticket: Ticket, name: str) -> Reply:
    if worker.role not in ("leader", "community", "street"):
        return Reply("只有网格长和社区、街道工作人员可以转派工单。需要别人处理请用“退单”。")
    target = find_worker(services.session, name) if name else None
    if target is None:
        return Reply(f"没有找到名为“{name}”的工作人员,请核对姓名,例如“转派 {ticket.id} 李骁”。")
    previous = ticket.assignee
    if previous is not None and previous.id == target.id:
        # Nothing moves, so nobody is paged or told, and the audit trail stays as it was.
        return Reply(f"工单#{ticket.id}已由{target.name}负责,无需转派。")
    hand_over(services, ticket, target, worker.name)
    # The leader who took back a sent-back ticket and passes it on needs no push about their own act.
    if previous is not None and previous.id != worker.id:
        tell_worker(
            services,
            previous,
            ticket,
            f"工单 #{ticket.id} 已由{worker.name}转派给{target.name}。",
            "reassigned",
        )
    return Reply(f"已把工单 #{ticket.id} 转派给{worker_title(target)}。")


def hand_over(services: Services, ticket: Ticket, target: Worker, actor: str, why: str = "") -> None:
    """Reassign a ticket to someone who must sign for it anew; they and the resident are told."""
    apply(services, ticket, "reassign", actor, f"{why}转派给{target.name}")
    hand_to(services, ticket, target, level=_level_of(services, ticket, target))
    tell_worker(
        services, target, ticket, new_ticket_push(services, ticket, heading="转派工单"), kind="reassigned"
    )
    tell_resident(services, ticket, f"您的工单 #{ticket.id} 已转由{worker_title(target)}负责,会尽快联系您。")


def _extend(services: Services, worker: Worker, ticket: Ticket, rest: str) -> Reply:
    hours_text, _, reason = rest.partition(" ")
    limit = services.settings.escalation.max_extension_hours
    if not hours_text.isdigit() or not reason.strip() or not 1 <= int(hours_text) <= limit:
        return Reply(f"请写上延期小时数(1到{limit})和原因,例如“延期 {ticket.id} 24 等配件”。")
    if services.now >= ticket.resolve_due_at:
        return Reply(f"工单 #{ticket.id} 已超过办结期限,不能再延期,请联系网格长。")
    hours = int(hours_text)
    apply(services, ticket, "extend", worker.name, f"延期{hours}小时:{reason.strip()}")
    ticket.resolve_due_at += timedelta(hours=hours)
    ticket.resolve_warned_at = ticket.overdue_paged_at = None
    when = local_time(ticket.resolve_due_at, services.settings.timezone)
    leader = ticket.grid.leader if ticket.grid else None
    if leader is not None and leader.id != worker.id:
        tell_worker(
            services,
            leader,
            ticket,
            f"{worker_title(worker)}将工单 #{ticket.id} 延期{hours}小时:{reason.strip()}",
            kind="extended",
        )
    tell_resident(services, ticket, f"您的工单 #{ticket.id} 预计在{when}前办好。原因:{reason.strip()}")
    return Reply(f"工单 #{ticket.id} 已延期到{when}。")


def _my_tickets(services: Services, worker: Worker) -> Reply:
    query = (
        select(Ticket)
        .where(Ticket.assignee_id == worker.id, Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.ack_due_at, Ticket.id)
        .limit(20)
    )
    tickets = list(services.session.scalars(query))
    if not tickets:
        return Reply("您手上没有未办结的工单。")
    lines = [f"您有{len(tickets)}个未办结的工单:"]
    for ticket in tickets:
        lines.append(
            f"#{ticket.id} {CATEGORY_LABELS[ticket.category]} · {STATUS_LABELS[ticket.status]} · "
            f"{ticket.resident.address or '未登记住址'} · {_due_phrase(services, ticket)}"
        )
    return Reply("\n".join(lines))


def _due_phrase(services: Services, ticket: Ticket) -> str:
    signed = ticket.acknowledged_at is not None
    due = ticket.resolve_due_at if signed else ticket.ack_due_at
    overdue = "(已超时)" if due <= services.now else ""
    return f"{local_time(due, services.settings.timezone)}前{'办结' if signed else '签收'}{overdue}"


def _on_duty(services: Services, worker: Worker) -> Reply:
    worker.on_duty = True
    returned = _take_back_unsigned(services, worker)
    back = f"AB岗代收的{len(returned)}个未签收工单已转回给您。" if returned else "新工单会直接派给您。"
    return Reply(f"已上班。{back}")


def _off_duty(services: Services, worker: Worker) -> Reply:
    worker.on_duty = False
    backup = worker.backup
    if backup is not None and backup.on_duty:
        return Reply(f"已下班,辛苦了!下班期间新工单由AB岗{backup.name}代办。回复“上班”恢复接单。")
    return Reply(
        "已下班。注意:您没有在岗的AB岗,下班期间新工单会转给网格长或社区值班。"
        "请联系网格长设置AB岗。回复“上班”恢复接单。"
    )


def _take_back_unsigned(services: Services, worker: Worker) -> list[Ticket]:
    """Unsigned tickets of the worker's grids that went to the backup only because the worker was off
    duty come back; one a person reassigned to the backup on purpose stays. The backup and the residents
    (told the backup's name) hear of it."""
    grid_ids = select(Grid.id).where(Grid.worker_id == worker.id)
    query = select(Ticket).where(
        Ticket.grid_id.in_(grid_ids),
        Ticket.status == "assigned",
        Ticket.assignee_id != worker.id,
        Ticket.assignee_id == worker.backup_id,
    )
    tickets = [t for t in services.session.scalars(query.order_by(Ticket.id)) if _routed_by_system(t)]
    for ticket in tickets:
        apply(services, ticket, "reassign", "系统", f"{worker.name}上班,转回")
        hand_to(services, ticket, worker, level=WORKER)
        told = f"您的工单 #{ticket.id} 改由{worker_title(worker)}负责,会尽快联系您。"
        tell_resident(services, ticket, told)
    if tickets and worker.backup is not None:
        numbers = "、".join(f"#{ticket.id}" for ticket in tickets)
        text = f"{worker.name}已上班,您代收的工单 {numbers} 已转回给{worker.name},无需再处理。谢谢!"
        queue_push(services.session, services.now, worker=worker.backup, kind="reassigned", text=text)
    return tickets


def _routed_by_system(ticket: Ticket) -> bool:
    """True when the ticket's last change of holder was the automatic routing (opening or binding),
    not a person's 转派, a 退单 or the escalation ladder."""
    handovers = [event for event in ticket.events if event.kind in HANDOVER_EVENTS]
    last = handovers[-1] if handovers else None
    return last is not None and last.kind in ROUTED_EVENTS and last.actor == "系统"


def _level_of(services: Services, ticket: Ticket, worker: Worker) -> int:
    """Where a person stands on this ticket's ladder (the grid worker's level when not on it)."""
    return level_of(ladder(services.session, ticket), worker)


PLAIN_COMMANDS: dict[str, Callable[[Services, Worker], Reply]] = {
    "我的工单": _my_tickets,
    "上班": _on_duty,
    "下班": _off_duty,
}
TICKET_COMMANDS: dict[str, Callable[[Services, Worker, Ticket, str], Reply]] = {
    "签收": _acknowledge,
    "进度": _progress,
    "办结": _resolve,
    "退单": _send_back,
    "转派": _reassign,
    "延期": _extend,
    "改类": recategorise,
}

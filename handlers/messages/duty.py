"""A worker's own day from WeChat: 我的工单 (what they hold), 上班 and 下班 (on and off duty)."""

from __future__ import annotations

from handlers.context import Reply, Services
from handlers.texts import CATEGORY_LABELS, STATUS_LABELS, local_time
from handlers.tickets.core import OPEN_STATUSES, hand_to, worker_title
from handlers.tickets.ladder import WORKER
from handlers.tickets.lifecycle import apply, tell_resident
from storage.models import Ticket, Worker
from storage.outbox import queue_push
from storage.repositories import tickets as ticket_queries

# Audit events that give a ticket a new holder (handlers/tickets/core.py and lifecycle.py,
# handlers/jobs/escalation/, handlers/messages/binding.py).
HANDOVER_EVENTS = frozenset(
    {"assigned", "reassigned", "reassign", "send_back", "escalate", "repaged", "reopen"}
)
# Of those, the ones the routing makes by itself, with the actor 系统: opening and a resident's binding.
ROUTED_EVENTS = frozenset({"assigned", "reassigned"})


def my_tickets(services: Services, worker: Worker) -> Reply:
    """我的工单: the open tickets the worker holds, the most pressing first."""
    tickets = ticket_queries.most_pressing_held_by(services.session, worker.id, OPEN_STATUSES, limit=20)
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


def on_duty(services: Services, worker: Worker) -> Reply:
    """上班: new tickets come to the worker again, and what the backup held for them comes back."""
    worker.on_duty = True
    returned = _take_back_unsigned(services, worker)
    back = f"AB岗代收的{len(returned)}个未签收工单已转回给您。" if returned else "新工单会直接派给您。"
    return Reply(f"已上班。{back}")


def off_duty(services: Services, worker: Worker) -> Reply:
    """下班: new tickets go to the backup (AB岗) until the worker is back."""
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
    backed_up = ticket_queries.assigned_to_backup(services.session, worker.id, worker.backup_id)
    tickets = [t for t in backed_up if _routed_by_system(t)]
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

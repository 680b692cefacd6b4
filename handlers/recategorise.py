"""改类: a leader corrects a ticket's category; an emergency found that way is paged at once.

Every correction is audited, and `run.py routing misses` lists the texts staff recategorised, so the
router's real misses feed the next edit of config/intents.toml.
"""

from __future__ import annotations

from datetime import timedelta

from handlers.context import Reply, Services
from handlers.emergency import ADVICE, DEFAULT_ADVICE
from handlers.lifecycle import tell_resident, tell_worker
from handlers.texts import CATEGORY_LABELS
from handlers.tickets import OPEN_STATUSES, UNSIGNED, new_ticket_push, people_to_page, record_event
from storage.models import Ticket, Worker

RECATEGORISE = "recategorise"
MAY_RECATEGORISE = ("leader", "community", "street")
# What staff may write after 改类 N: the labels residents see, the short forms people say, the codes.
CATEGORY_WORDS = {
    **{label: key for key, label in CATEGORY_LABELS.items() if key != "knock"},
    **{key: key for key in CATEGORY_LABELS if key != "knock"},
    "紧急": "emergency",
    "维修": "repair",
    "看病": "health",
    "就医": "health",
    "纠纷": "dispute",
    "其他": "other",
}


def recategorise(services: Services, worker: Worker, ticket: Ticket, rest: str) -> Reply:
    """Change the ticket's category (leaders and offices); to emergency, page as an emergency now."""
    if worker.role not in MAY_RECATEGORISE:
        return Reply("只有网格长和社区、街道工作人员可以改类。分类不对请联系网格长。")
    category = CATEGORY_WORDS.get(rest.split(" ")[0].strip()) if rest else None
    if category is None:
        choices = "、".join(label for key, label in CATEGORY_LABELS.items() if key != "knock")
        return Reply(f"请写上新的类别,例如“改类 {ticket.id} 紧急求助”。可选:{choices}。")
    if ticket.status not in OPEN_STATUSES:
        return Reply(f"工单 #{ticket.id} 已经办结或关闭,不能再改类。")
    if category == ticket.category:
        return Reply(f"工单 #{ticket.id} 已经是“{CATEGORY_LABELS[category]}”。")
    before = CATEGORY_LABELS[ticket.category]
    ticket.category, ticket.kind, ticket.updated_at = category, None, services.now
    record_event(services, ticket, RECATEGORISE, worker.name, f"{before}→{CATEGORY_LABELS[category]}")
    if category == "emergency":
        _page_as_emergency(services, ticket)
        return Reply(f"已把工单 #{ticket.id} 改为紧急求助,已按紧急情况通知相关人员。")
    return Reply(f"已把工单 #{ticket.id} 从“{before}”改为“{CATEGORY_LABELS[category]}”。")


def _page_as_emergency(services: Services, ticket: Ticket) -> None:
    """Urgent priority, the emergency sign-for window, the holder and the leader paged, the resident told."""
    result = services.classifier.classify(ticket.summary)
    ticket.kind = result.kind if result.category == "emergency" else None
    ticket.priority = "urgent"
    if ticket.status in UNSIGNED:
        ticket.ack_due_at = services.now + timedelta(
            minutes=services.settings.deadline("emergency").ack_minutes
        )
        ticket.last_paged_at, ticket.ack_warned_at, ticket.repeat_pages = services.now, None, 0
    ticket.resolve_due_at = min(
        ticket.resolve_due_at,
        services.now + timedelta(hours=services.settings.deadline("emergency").resolve_hours),
    )
    push = new_ticket_push(services, ticket, heading="改为紧急")
    for person in people_to_page(services.session, ticket):
        tell_worker(services, person, ticket, push, "emergency")
    advice = ADVICE.get(ticket.kind or "", DEFAULT_ADVICE)
    tell_resident(
        services,
        ticket,
        f"您的工单 #{ticket.id} 已按紧急求助处理,工作人员马上联系您。\n{advice}",
        kind="emergency",
    )

"""The router hook: a message from the resident is today's check-in, and 1, 好 or 2 is its answer."""

from __future__ import annotations

from sqlalchemy.orm import Session

from handlers.context import Incoming, Reply, Services
from handlers.jobs.checkins.family import alerted_family, push_family
from handlers.jobs.checkins.states import OPEN_ROWS
from handlers.jobs.checkins.timing import clock, local_moment
from handlers.language.normalize import normalize
from handlers.messages.requests import handle_request
from handlers.messages.resident_commands import awaiting_rating
from handlers.people.residents import pending_category
from handlers.tickets.core import OPEN_STATUSES, assignee_phrase, attach_message
from handlers.tickets.lifecycle import WORKING, apply, tell_worker
from storage.models import CheckIn, Resident, Ticket, Worker
from storage.repositories.checkins import checkin_id_for
from storage.repositories.pushes import workers_pushed_about

SYSTEM = "系统"
# Events a person has to do themselves; automatic ones (location reports, unfollow) prove nothing.
PROOF_EVENTS = frozenset({"subscribe", "subscribe_scan", "scan", "click", "view"})

# Compared with the normalized message: simplified, no punctuation, fillers (嗯, 啊) dropped.
OK_ANSWERS = frozenset(
    {
        "1", "好", "好的", "很好", "挺好", "挺好的", "还好", "还行", "都好", "我很好", "我挺好", "我好",
        "我还好", "身体很好", "身体挺好", "身体还好", "一切都好", "一切正常", "平安", "报平安", "我平安",
        "平安无事", "安好", "没事", "没事儿", "我没事", "没问题", "好着呢", "放心", "ok",
    }
)  # fmt: skip
HELP_ANSWERS = frozenset(
    {
        "2", "不好", "不太好", "很不好", "身体不好", "帮忙", "帮帮我", "请帮忙", "需要帮助", "需要帮忙",
        "不舒服", "我不舒服", "身体不舒服", "难受", "不行", "来人", "快来人",
    }
)  # fmt: skip
# Inside a longer answer the classifier does not place ("今天不太舒服"), these still mean "not well".
HELP_MARKERS = ("不舒服", "不太舒服", "不大舒服", "难受", "不太好", "帮帮我", "需要帮助")

OK_REPLY = "收到您的平安,谢谢您!祝您今天顺顺利利,有需要随时找我们。"


def note_checkin(services: Services, resident: Resident, incoming: Incoming) -> Reply | None:
    """Count the message as today's check-in; a Reply when it was only the answer (1, 好, 2 ...)."""
    if resident.id is None or not _sign_of_life(incoming):
        return None
    day = local_moment(services.now, services.settings.timezone).day
    with services.session.no_autoflush:  # the resident's pending "last heard from" stamp can wait
        checkin_id = checkin_id_for(services.session, resident.id, day)
        if checkin_id is None:
            return None
        checkin = services.session.get_one(CheckIn, checkin_id)
    text = incoming.text or ""
    reading = _reading(services, resident, checkin, text)
    if checkin.answered_at is None:
        checkin.answered_at, checkin.answer = services.now, (text or f"[{incoming.msg_type}]")[:200]
    if checkin.status == "missed":
        return _after_knock(services, resident, checkin, reading, incoming)
    return _answer(services, resident, checkin, reading, text)


def _sign_of_life(incoming: Incoming) -> bool:
    """Anything the person sent or tapped themselves."""
    return incoming.msg_type != "event" or (incoming.event or "").lower() in PROOF_EVENTS


def _reading(services: Services, resident: Resident, checkin: CheckIn, text: str) -> str:
    """'emergency', 'ok', 'help' or 'other': what the message says about the elder today."""
    if not text:
        return "other"
    category = services.classifier.classify(text).category
    if category == "emergency":
        return "emergency"
    if not _answers_checkin(services, resident, checkin):
        return "other"
    normalized = normalize(text)
    if normalized in OK_ANSWERS:
        return "ok"
    if normalized in HELP_ANSWERS:
        return "help"
    if category not in ("other", "health") or pending_category(services, resident):
        return "other"  # a request of its own kind (medicine, repair, after a menu tap): answered, routed on
    unwell = any(marker in normalized for marker in HELP_MARKERS)
    return "help" if unwell or category == "health" else "other"


def _answers_checkin(services: Services, resident: Resident, checkin: CheckIn) -> bool:
    """The check-in is the prompt sent last; a later rating request (also answered with 1 or 2) wins."""
    prompts = [moment for moment in (checkin.pinged_at, checkin.reminded_at) if moment is not None]
    if not prompts:
        return False
    rated = awaiting_rating(services, resident)
    asked = rated.rating_requested_at if rated is not None else None
    return asked is None or asked <= max(prompts)


def _answer(
    services: Services, resident: Resident, checkin: CheckIn, reading: str, text: str
) -> Reply | None:
    """No knock task yet: record the answer; reply to 1 and 2 ourselves, route everything else."""
    if reading in ("help", "emergency"):
        checkin.status = "help"
    elif checkin.status in OPEN_ROWS:
        checkin.status = "answered"
    if reading == "ok":
        return Reply(OK_REPLY)
    if reading == "help":
        return _ask_for_help(services, resident, checkin, text)
    return None


def _ask_for_help(services: Services, resident: Resident, checkin: CheckIn, text: str) -> Reply:
    """A health ticket for the grid worker at once (or the one already open), linked to the check-in."""
    summary = f"独居老人回复平安问候“{text}”,需要帮助,请尽快联系。"
    reply = handle_request(services, resident, "health", summary, message_id=services.message_id)
    checkin.ticket_id = checkin.ticket_id or reply.ticket_id
    return reply


def _after_knock(
    services: Services, resident: Resident, checkin: CheckIn, reading: str, incoming: Incoming
) -> Reply | None:
    """A knock task is out: only "I'm fine" calls it off; anything else is passed to whoever holds it."""
    ticket = services.session.get(Ticket, checkin.ticket_id) if checkin.ticket_id else None
    knocking = ticket is not None and ticket.status in OPEN_STATUSES
    if reading == "ok":
        checkin.status = "answered"
        return _all_clear(services, resident, checkin, ticket if knocking else None)
    if not knocking:
        return _answer(services, resident, checkin, reading, incoming.text or "")
    if reading != "emergency" and services.message_id is not None:
        attach_message(services, ticket, services.message_id, f"发来消息:{_what(incoming)}")
    if reading == "help":
        return Reply(
            f"收到。{assignee_phrase(ticket, with_phone=True)}正在赶来看您,请稍等。"
            f"如果情况紧急,请马上拨打120。工单号 #{ticket.id}。",
            ticket.id,
        )
    return None


def _what(incoming: Incoming) -> str:
    """What the elder sent, as the worker's follow-up push describes it."""
    if incoming.text:
        return f"“{incoming.text}”"
    return {"voice": "一条语音", "image": "一张图片", "location": "一个位置"}.get(
        incoming.msg_type, "一条消息"
    )


def _all_clear(services: Services, resident: Resident, checkin: CheckIn, ticket: Ticket | None) -> Reply:
    """A late "I'm fine": the knock task ends, and everyone who was alerted hears it."""
    when = clock(services, services.now)
    name = resident.name or "居民"
    lines = ["收到您的平安,太好了!"]
    if ticket is not None:
        workers = _alerted_workers(services.session, ticket)
        _settle_knock(services, ticket)
        text = f"【已报平安】工单 #{ticket.id}:{name}{when}回复了平安问候,敲门任务已解除。辛苦了!"
        for worker in workers:
            tell_worker(services, worker, ticket, text, "checkin_all_clear")
        lines.append(f"刚才没联系上您,{assignee_phrase(ticket)}正准备上门看看您,我们已经转告了。")
    family = alerted_family(services.session, checkin.ticket_id) if checkin.ticket_id else []
    for recipient, contact_name in family:
        text = f"【平安】您的家人{name}{when}已回复报平安,请放心。谢谢您的关心!"
        push_family(services, recipient, contact_name, checkin.ticket_id, "family_all_clear", text)
    if family:
        lines.append("您的家人也会收到您报平安的消息。")
    lines.append("祝您身体健康,有需要随时找我们。")
    return Reply("".join(lines), ticket.id if ticket else None)


def _settle_knock(services: Services, ticket: Ticket) -> None:
    """Resolve and close the knock ticket (no rating asked: nobody was served), or cancel it if unheld."""
    note = "老人已回复报平安,敲门任务解除"
    if ticket.status not in WORKING:
        apply(services, ticket, "cancel", SYSTEM, note)
        return
    signed = ticket.acknowledged_at
    apply(services, ticket, "resolve", SYSTEM, note)
    # Resolving counts as signing; the elder's own answer must not count as the worker's response.
    ticket.acknowledged_at = signed
    apply(services, ticket, "close", SYSTEM, "无需回访")


def _alerted_workers(session: Session, ticket: Ticket) -> list[Worker]:
    """Everyone pushed about this ticket so far (assignee, backup, leader ...), and whoever holds it."""
    workers = workers_pushed_about(session, ticket.id)
    if ticket.assignee is not None and ticket.assignee not in workers:
        workers.append(ticket.assignee)
    return workers

"""When each route of the table applies: questions about one message, answered without changing anything."""

from __future__ import annotations

from handlers.messages.binding import address_for, looks_like_binding
from handlers.messages.events import SUBSCRIPTION_EVENTS
from handlers.messages.family_commands import is_family_message
from handlers.messages.flood import is_flooding
from handlers.messages.resident_commands import cancel_number, rating_in
from handlers.messages.worker_commands import is_worker_command, looks_like_worker_command
from handlers.people.claims import code_in, has_open_claim
from handlers.people.family_codes import is_family_code
from handlers.people.invites import invite_code_in
from handlers.routing.message import Message

MY_TICKETS = frozenset({"我的工单", "查工单", "查询工单", "工单进度", "查进度", "我的报修"})
HELP_WORDS = frozenset({"", "帮助", "help", "菜单", "功能", "怎么用"})
HUMAN_WORDS = ("人工", "找网格员", "叫网格员", "网格员联系我", "找社区", "找工作人员")


def template_receipt(message: Message) -> bool:
    """WeChat reporting a template's fate: not the resident writing to us."""
    return message.event == "templatesendjobfinish"


def subscription_event(message: Message) -> bool:
    """WeChat reporting a choice about subscription messages: neither a message nor a sign of life (it
    can come from settings, or right after our own send), and it opens no customer-service window."""
    return message.event in SUBSCRIPTION_EVENTS


def emergency(message: Message) -> bool:
    """A cry for help; a worker's own command about one ("办结 12 老人摔伤已送医") is still a command."""
    return message.category == "emergency" and not _worker_command_from_worker(message)


def _worker_command_from_worker(message: Message) -> bool:
    """A bound worker's command, typed or said ("办结 3" as a voice transcript)."""
    return message.is_text and message.worker is not None and is_worker_command(message.text)


def family_code(message: Message) -> bool:
    """A family member's code ("关注 <code>"), or "绑定 <code>" when the code is a family code."""
    return message.incoming.msg_type == "text" and is_family_code(message.services.session, message.text)


def invite_code(message: Message) -> bool:
    return message.incoming.msg_type == "text" and invite_code_in(message.text) is not None


def from_worker(message: Message) -> bool:
    """A worker's text, or a voice message whose transcript is one of their commands."""
    if message.incoming.msg_type == "voice":
        return _worker_command_from_worker(message)
    return message.incoming.msg_type == "text" and bool(message.text) and message.worker is not None


def worker_media(message: Message) -> bool:
    """A worker's photo or voice: it belongs to their work, never to a resident's ticket."""
    return message.incoming.msg_type in ("image", "voice") and message.worker is not None


def flooding(message: Message) -> bool:
    return is_flooding(message.services, message.incoming.openid)


def always(_message: Message) -> bool:
    return True


def family_message(message: Message) -> bool:
    """取消关注家人, 我的家属, 解除家属 N, 我来联系 (a worker's own 解除家属 went to the worker route)."""
    return message.is_text and is_family_message(message.text)


def is_event(message: Message) -> bool:
    return message.incoming.msg_type == "event"


def not_text(message: Message) -> bool:
    return not message.is_text


def rating(message: Message) -> bool:
    return message.rated is not None and rating_in(message.normalized) is not None


def cancel(message: Message) -> bool:
    return cancel_number(message.normalized)[0]


def worker_command_from_resident(message: Message) -> bool:
    return looks_like_worker_command(message.text)


def binding_code(message: Message) -> bool:
    """Six digits said as a code ("绑定码 483920"), or bare from someone waiting to prove a claim."""
    found = code_in(message.normalized)
    if found is None:
        return False
    said_as_code = found[1]
    return said_as_code or has_open_claim(message.services.session, message.resident)


def binding(message: Message) -> bool:
    return (
        looks_like_binding(message.normalized)
        or address_for(message.resident, message.normalized) is not None
    )


def my_tickets(message: Message) -> bool:
    return message.normalized in MY_TICKETS


def outage_under_notice(message: Message) -> bool:
    """A report of an outage a notice for the sender's building already announced (repair, same kind)."""
    return message.is_text and message.category == "repair" and message.notice is not None


def classified_request(message: Message) -> bool:
    """A category the rules placed, unless it is only a weak question said in distress."""
    classification = message.classification
    return message.category != "other" and not (classification and classification.possible_emergency)


def urgent(message: Message) -> bool:
    return message.classification is not None and message.classification.urgent


def possible_emergency(message: Message) -> bool:
    return message.classification is not None and message.classification.possible_emergency


def wants_a_person(message: Message) -> bool:
    return any(word in message.normalized for word in HUMAN_WORDS)


def chat(message: Message) -> bool:
    return message.classification is not None and message.classification.is_chat


def asks_for_help(message: Message) -> bool:
    return message.normalized in HELP_WORDS

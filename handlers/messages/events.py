"""Follow, unfollow and menu taps."""

from __future__ import annotations

import logging
from datetime import timedelta

from handlers.context import Reply, Services
from handlers.messages.binding import building_in_scene, handle_building_scan
from handlers.messages.conversation import handle_help, handle_my_tickets
from handlers.messages.emergency import handle_emergency
from handlers.people.family_codes import family_code_in_scene, redeem_family_code
from handlers.texts import ASK_ADDRESS, CATEGORY_LABELS
from storage.models import InboundMessage, Resident
from storage.repositories.subscriptions import record_consent

log = logging.getLogger(__name__)

# Custom menu CLICK keys; `run.py wechat menu` publishes config/menu.toml, which may use only these.
MENU_REPAIR, MENU_BILL, MENU_MEDICINE = "MENU_REPAIR", "MENU_BILL", "MENU_MEDICINE"
MENU_SOS, MENU_MY_TICKETS, MENU_HELP = "MENU_SOS", "MENU_MY_TICKETS", "MENU_HELP"
MENU_KEYS = frozenset({MENU_REPAIR, MENU_BILL, MENU_MEDICINE, MENU_SOS, MENU_MY_TICKETS, MENU_HELP})
MENU_CATEGORIES = {MENU_REPAIR: "repair", MENU_BILL: "bill", MENU_MEDICINE: "medicine"}
MENU_PROMPTS = {
    "repair": "请说说哪里坏了,在什么位置。可以发文字、语音,也可以拍照片。",
    "bill": "请告诉我们要交什么费用(水费、电费、燃气费、物业费……),网格员会帮您办理。",
    "medicine": "请告诉我们需要什么药、多少量,也可以拍药盒的照片。",
}
PENDING_MINUTES = 30
SOS_TAP = "[菜单]紧急求助"
# WeChat's word on subscription messages (订阅通知): the user's choice in the popup, a later change in
# their settings, and the outcome of a send. None is a message from the user or opens their window.
SUBSCRIPTION_EVENTS = frozenset(
    {"subscribe_msg_popup_event", "subscribe_msg_change_event", "subscribe_msg_sent_event"}
)
CONSENT_STATUSES = ("accept", "reject")


def handle_subscribe(
    services: Services, resident: Resident, scene: str | None = None, message_id: int | None = None
) -> Reply:
    """Welcome a new follower; place them in the building whose QR code they scanned, else ask."""
    welcome = f"欢迎关注{services.settings.community_name}网格服务台!"
    lines = [welcome, handle_help(services).text or ""]
    building, family_code = building_in_scene(scene), family_code_in_scene(scene)
    if building is not None:
        lines.append(handle_building_scan(services, resident, building, message_id).text or "")
    elif family_code is not None:  # a relative scanning the elder's family QR code: not asked for an address
        lines.append(redeem_family_code(services, resident, family_code).text or "")
    elif resident.building is None:
        lines.append(ASK_ADDRESS)
    return Reply("\n".join(line for line in lines if line))


def handle_scan(services: Services, resident: Resident, scene: str | None, message_id: int) -> Reply:
    """A follower scanned a QR code: a building's places them there, a family code binds them to the elder;
    any other is acknowledged silently."""
    family_code = family_code_in_scene(scene)
    if family_code is not None:
        return redeem_family_code(services, resident, family_code)
    building = building_in_scene(scene)
    if building is None:
        return Reply(None)
    return handle_building_scan(services, resident, building, message_id)


def handle_unsubscribe(resident: Resident) -> Reply:
    """Stop pushing to someone who unfollowed; WeChat shows them nothing."""
    resident.subscribed = False
    return Reply(None)


def handle_menu_click(services: Services, resident: Resident, key: str | None, message_id: int) -> Reply:
    """Menu taps: SOS opens an emergency at once; the others ask what the request is about."""
    if key == MENU_SOS:
        tapped = services.session.get(InboundMessage, message_id)
        if tapped is not None:  # a tap has no words: the ticket's message says what was pressed
            tapped.content = SOS_TAP
        summary = "居民按下了菜单里的“紧急求助”"
        return handle_emergency(services, resident, summary, kind=None, message_id=message_id)
    if key == MENU_MY_TICKETS:
        return handle_my_tickets(services, resident)
    if key == MENU_HELP:
        return handle_help(services)
    category = MENU_CATEGORIES.get(key or "")
    if category is None:
        return handle_help(services)
    resident.pending_category = category
    resident.pending_until = services.now + timedelta(minutes=PENDING_MINUTES)
    return Reply(f"【{CATEGORY_LABELS[category]}】{MENU_PROMPTS[category]}")


def handle_subscription_event(services: Services, openid: str, items: tuple[tuple[str, str], ...]) -> Reply:
    """Keep each template's latest accept or reject; a failed send is only logged. Nobody is answered."""
    for template_id, status in items:
        if status in CONSENT_STATUSES:
            record_consent(services.session, openid, template_id, status, services.now)
        elif status != "sent":
            log.warning("subscription message %s to a user was not delivered: %s", template_id, status)
    return Reply(None)

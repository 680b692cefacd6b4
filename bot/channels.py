"""The WeChat channels behind the outbox: customer-service and template messages, and WeCom for staff."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException

from bot.messenger import (
    ConsoleMessenger,
    Delivery,
    Messenger,
    Push,
    SendError,
    Throttled,
    Undeliverable,
    Unreachable,
)
from bot.templates import subscription_data, template_data
from bot.tokens import TokenUnavailable
from bot.wechat_api import (
    OfficialAccountClient,
    WeComClient,
    call_with_fresh_token,
    official_account_client,
    wecom_client,
)
from config.sections import DAILY_PING_KINDS
from config.settings import Settings

log = logging.getLogger(__name__)

CUSTOM, TEMPLATE, WECOM, SUBSCRIPTION = "custom", "template", "wecom", "subscription"
# 45015: the 48-hour window is closed; 45047: too many customer-service messages since the user wrote.
WINDOW_ERRORS = frozenset({45015, 45047})
# The console's one-time sign-in link that handlers add to a worker's push (bot/console/links.py).
CONSOLE_GO_LINK = re.compile(r"https?://\S+/console/go/[A-Za-z0-9_-]+")
# Any console page a push's text names (an alert's "http://…/console/tickets/1"): a template's 20-character
# fields cannot carry it, the message's own link can.
CONSOLE_PAGE_LINK = re.compile(r"https?://\S+/console(?:/\S*)?")
# -1: "system busy", WeChat's own trouble rather than the push's.
SYSTEM_BUSY = -1
# 45009: daily quota used up; 45011: per-minute quota.
QUOTA_ERRORS = frozenset({45009, 45011})
# 43004 unfollowed, 43019 blacklisted us, 40003 no such openid: the resident is gone for now.
UNSUBSCRIBED_ERRORS = frozenset({43004, 43019, 40003})
# 43101 refused the message; WeCom 60111 no such user, 81013 every recipient invalid.
GONE_ERRORS = UNSUBSCRIBED_ERRORS | {43101, 60111, 81013}
WECOM_TITLE_BYTES, WECOM_CARD_BYTES = 128, 512


def choose_channel(push: Push, now: datetime, *, window: timedelta, wecom: bool) -> str | None:
    """WeCom for staff who have it, a customer-service message inside the window, else a template."""
    if push.wecom_userid and wecom:
        return WECOM
    if not push.openid or not push.subscribed:
        return None
    if push.last_interaction_at is not None and now - push.last_interaction_at < window:
        return CUSTOM
    return TEMPLATE


class _WindowClosed(SendError):
    """WeChat refused a customer-service message: outside the 48-hour window (or over its count)."""


class WeChatMessenger:
    """Delivers pushes through the Official Account (customer-service or template messages) and WeCom."""

    channel = "wechat"
    # WeCom drops pushes past 30 a minute per member silently; WeChat's own limits count per user too.
    paces_staff = True

    def __init__(
        self,
        official: OfficialAccountClient,
        wecom: WeComClient | None,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self._official, self._wecom = official, wecom
        self._settings = settings
        self._clock = clock
        # A channel whose quota ran out is left alone until then (in this process).
        self._paused_until: dict[str, datetime] = {}

    def send(self, push: Push) -> Delivery:
        """Send on the channel the recipient can be reached by; a closed window falls back to a template."""
        now = self._clock()
        if push.kind in DAILY_PING_KINDS:
            return self._send_daily_ping(push, now)
        window = timedelta(hours=self._settings.delivery.customer_service_window_hours)
        channel = choose_channel(push, now, window=window, wecom=self._wecom is not None)
        if channel is None:
            raise Undeliverable(_no_route(push), unsubscribed=not push.subscribed)
        if channel == CUSTOM and self._pause_left(CUSTOM, now):
            channel = TEMPLATE  # the template quota is separate
        try:
            return self._send_on(channel, push, now)
        except _WindowClosed as exc:
            log.info("push %s: %s; sending a template message instead", push.outbox_id, exc)
            return self._send_on(TEMPLATE, push, now)

    def _send_daily_ping(self, push: Push, now: datetime) -> Delivery:
        """A check-in ping on the channel its sweep chose; never a template (the same words every day)."""
        if not push.openid or not push.subscribed:
            raise Undeliverable(_no_route(push), unsubscribed=not push.subscribed)
        subscription = push.channel == SUBSCRIPTION and self._settings.subscriptions.enabled
        try:
            return self._send_on(SUBSCRIPTION if subscription else CUSTOM, push, now)
        except _WindowClosed as exc:
            # The knock task follows if the elder does not answer; a template would be abuse.
            raise Undeliverable(f"{exc}; a check-in ping never goes as a template message") from exc

    def _send_on(self, channel: str, push: Push, now: datetime) -> Delivery:
        left = self._pause_left(channel, now)
        if left:
            raise Throttled(f"{channel}: paused, quota used up", left)
        if channel == WECOM and self._wecom is not None:
            client: OfficialAccountClient | WeComClient = self._wecom
            sender = self._send_wecom
        else:
            senders = {CUSTOM: self._send_custom, SUBSCRIPTION: self._send_subscription}
            client, sender = self._official, senders.get(channel, self._send_template)
        try:
            return call_with_fresh_token(client, lambda: sender(push))
        except WeChatClientException as exc:
            raise self._failure(channel, exc, now) from exc
        except requests.RequestException as exc:
            raise Unreachable(f"{channel}: {type(exc).__name__}: {exc}") from exc
        except TokenUnavailable as exc:
            raise SendError(f"{channel}: {type(exc).__name__}: {exc}") from exc

    def _failure(self, channel: str, exc: WeChatClientException, now: datetime) -> SendError:
        """What a WeChat error code means for the push."""
        code = exc.errcode
        if code is None:
            status = exc.response.status_code if exc.response is not None else None
            text = f"{channel}: HTTP {status or '?'} {exc.errmsg or ''}".rstrip()
            return Unreachable(text) if status is None or status >= 500 else SendError(text)
        text = f"{channel}: errcode {code} {exc.errmsg}"
        if code == SYSTEM_BUSY:
            return Unreachable(text)
        if code in WINDOW_ERRORS and channel == CUSTOM:
            return _WindowClosed(text)
        if code in QUOTA_ERRORS:
            pause = timedelta(seconds=self._settings.delivery.quota_pause_seconds)
            self._paused_until[channel] = now + pause
            return Throttled(text, pause)
        if code in GONE_ERRORS:
            return Undeliverable(text, unsubscribed=code in UNSUBSCRIBED_ERRORS)
        return SendError(text)

    def _pause_left(self, channel: str, now: datetime) -> timedelta | None:
        until = self._paused_until.get(channel)
        return until - now if until is not None and until > now else None

    def _send_custom(self, push: Push) -> Delivery:
        self._official.message.send_text(push.openid, push.text)
        return Delivery(CUSTOM)

    def _send_subscription(self, push: Push) -> Delivery:
        """POST message/subscribe/bizsend: the long-term subscription message the elder accepted."""
        subscription = self._settings.subscriptions
        local_now = self._clock().astimezone(ZoneInfo(self._settings.timezone))
        payload = {
            "touser": push.openid,
            "template_id": subscription.checkin_template_id,
            "data": subscription_data(subscription.checkin_fields, push.kind, local_now),
        }
        result = self._official.post("message/subscribe/bizsend", data=payload)
        msgid = result.get("msgid") if isinstance(result, dict) else None
        return Delivery(SUBSCRIPTION, None if msgid is None else str(msgid))

    def _send_template(self, push: Push) -> Delivery:
        templates = self._settings.templates
        template = templates.for_kind(push.kind)
        if template is None:
            raise SendError(f"template: none set up for '{push.kind}', and the 48 h window is closed")
        data = template_data(template, push.text, templates.max_value_chars)
        result = self._official.message.send_template(push.openid, template.id, data, url=self._link(push))
        msgid = result.get("msgid")
        return Delivery(TEMPLATE, None if msgid is None else str(msgid))

    def _send_wecom(self, push: Push) -> Delivery:
        assert self._wecom is not None and push.wecom_userid is not None
        agent_id, link = self._settings.wecom.agent_id, self._link(push)
        if link:
            title, card = wecom_card(push.text)
            result = self._wecom.message.send_text_card(agent_id, push.wecom_userid, title, card, link)
        else:
            result = self._wecom.message.send_text(agent_id, push.wecom_userid, push.text)
        if push.wecom_userid in (result.get("invaliduser") or "").split("|"):
            raise Undeliverable(f"wecom: {push.wecom_userid} is not a member of the app")
        msgid = result.get("msgid")
        return Delivery(WECOM, None if msgid is None else str(msgid))

    def _link(self, push: Push) -> str | None:
        """The console page for staff (the ticket's, when there is one); residents get no link."""
        if push.worker_id is None:
            return None
        # The push's own one-time sign-in link (console.base_url set) opens the ticket signed in;
        # else the console page its text names.
        named = CONSOLE_GO_LINK.search(push.text) or CONSOLE_PAGE_LINK.search(push.text)
        if named is not None:
            return named.group(0)
        console = self._settings.delivery.console_url.rstrip("/")
        if not console:
            return None
        return f"{console}/tickets/{push.ticket_id}" if push.ticket_id is not None else console


def wecom_card(text: str) -> tuple[str, str]:
    """A WeCom text card's title (the first line) and description (the rest, <br> between lines)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [""]
    body = [html.escape(line) for line in lines[1:] or lines]
    description = ""
    for line in body:
        candidate = f"{description}<br>{line}" if description else line
        if len(candidate.encode()) > WECOM_CARD_BYTES:
            break
        description = candidate
    return _cut_bytes(lines[0], WECOM_TITLE_BYTES), description or _cut_bytes(body[0], WECOM_CARD_BYTES)


def _cut_bytes(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


def _no_route(push: Push) -> str:
    if not push.subscribed:
        return "the resident has unfollowed the Official Account"
    return f"no openid or WeCom user id for {push.recipient_name}"


def build_messenger(
    settings: Settings, factory: sessionmaker[Session], clock: Callable[[], datetime]
) -> Messenger:
    """The console in sandbox mode; otherwise WeChat (and WeCom when configured), tokens shared via the DB."""
    if settings.sandbox:
        return ConsoleMessenger()
    wecom = wecom_client(settings, factory) if settings.wecom.enabled else None
    return WeChatMessenger(official_account_client(settings, factory), wecom, settings, clock)

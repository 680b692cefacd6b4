"""The WeChat channels behind the outbox: customer-service and template messages, and WeCom for staff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException

from bot.channel_rules import (
    CAPABILITIES_FRESH,
    CONSENT_WITHDRAWN,
    CONSOLE_GO_LINK,
    CONSOLE_PAGE_LINK,
    CUSTOM,
    GONE_ERRORS,
    HELD,
    NO_PERMISSION_ERRORS,
    QUOTA_ERRORS,
    SUBSCRIPTION,
    SYSTEM_BUSY,
    TEMPLATE,
    UNKNOWN_TEMPLATE,
    UNSUBSCRIBED_ERRORS,
    WECOM,
    WINDOW_ERRORS,
    choose_channel,
    wecom_card,
)
from bot.messenger import (
    LAST_SEND_KINDS,
    ConsoleMessenger,
    Delivery,
    Held,
    Messenger,
    Push,
    SendError,
    Throttled,
    Undeliverable,
    Unreachable,
    can_wait,
    sends_kept_from,
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
from storage.capabilities import CUSTOMER_SERVICE, one_template, record_unavailable, unavailable_apis
from storage.capabilities import SUBSCRIPTION as SUBSCRIPTION_API
from storage.capabilities import TEMPLATE as TEMPLATE_API
from storage.db import transaction
from storage.repositories.subscriptions import record_consent
from storage.windows import allowances, refund_window_send, take_window_send, window_used_up

log = logging.getLogger(__name__)


class _WindowClosed(SendError):
    """WeChat refused a customer-service message: outside the 48-hour window (or over its count)."""


class _ConsentWithdrawn(SendError):
    """WeChat refused a subscription message: the user no longer accepts it (43101)."""


class _NoPermission(SendError):
    """WeChat answered 48001: the account may not use this API at all."""

    def __init__(self, message: str, errcode: int) -> None:
        super().__init__(message)
        self.errcode = errcode


class _TemplateUnknown(_NoPermission):
    """WeChat answered 40037: the template id is not one of the account's."""


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
        factory: sessionmaker[Session],
    ) -> None:
        self._official, self._wecom = official, wecom
        self._settings = settings
        self._clock = clock
        self._factory = factory
        # A channel whose quota ran out is left alone until then (in this process).
        self._paused_until: dict[str, datetime] = {}
        # The APIs the account may not use (settings, and WeChat's 48001 kept in the database), and until
        # when this process trusts what it read.
        self._unavailable: set[str] = set()
        self._unavailable_until: datetime | None = None

    def send(self, push: Push) -> Delivery:
        """Send on the channel the recipient can be reached by: a customer-service message while their
        window has a send left for it, else a template message, else (a resident's routine news) held."""
        now = self._clock()
        if push.kind in DAILY_PING_KINDS:
            return self._send_daily_ping(push, now)
        window = timedelta(hours=self._settings.delivery.customer_service_window_hours)
        channel = choose_channel(push, now, window=window, wecom=self._wecom is not None)
        if channel is None:
            raise Undeliverable(_no_route(push), unsubscribed=not push.subscribed)
        if channel == WECOM:
            return self._send_on(WECOM, push, now)
        if channel != CUSTOM or self._pause_left(CUSTOM, now) or not self.may_use(CUSTOMER_SERVICE, now):
            return self._send_template_or_hold(push, now, window)  # the template quota is separate
        assert push.openid is not None
        if not take_window_send(self._factory, push.openid, now, keep=sends_kept_from(push), span=window):
            return self._send_template_or_hold(push, now, window, budget_spent=True)
        try:
            return self._send_counted_custom(push, now)
        except _WindowClosed as exc:
            # WeChat knows better: no customer-service message until they write again.
            log.info("push %s: %s; sending a template message instead", push.outbox_id, exc)
        except _NoPermission as exc:
            self._learn_unavailable(CUSTOMER_SERVICE, exc, now)
        return self._send_template_or_hold(push, now, window)

    def may_use(self, api: str, now: datetime) -> bool:
        """False once settings or WeChat (48001) said the account may not use this API."""
        if self._unavailable_until is None or now >= self._unavailable_until:
            delivery = self._settings.delivery
            declared = {CUSTOMER_SERVICE} if delivery.customer_service_messages == "off" else set()
            declared |= {TEMPLATE_API} if delivery.template_messages == "off" else set()
            declared |= set() if self._settings.subscriptions.enabled else {SUBSCRIPTION_API}
            with transaction(self._factory) as session:
                self._unavailable = declared | set(unavailable_apis(session))
            self._unavailable_until = now + CAPABILITIES_FRESH
        return api not in self._unavailable

    def _send_counted_custom(self, push: Push, now: datetime) -> Delivery:
        """A customer-service message whose send is already counted: given back if it did not go."""
        assert push.openid is not None
        try:
            return self._send_on(CUSTOM, push, now)
        except _WindowClosed:
            # WeChat counts sends we did not make (the account's own staff in its web console, say).
            window_used_up(self._factory, push.openid)
            raise
        except SendError:
            refund_window_send(self._factory, push.openid, now)
            raise

    def _send_template_or_hold(
        self, push: Push, now: datetime, window: timedelta, *, budget_spent: bool = False
    ) -> Delivery:
        """A template message, unless a resident's routine news had better wait for their next message.

        Held: when no template can carry it; and routine news whose resident's window has no send left
        for it while they are in conversation (inside the 48 hours of their last message), since they
        are likely to write again. Their next reply tells of it (handlers/messages/held_news.py).
        """
        if can_wait(push):
            if not self.template_carries(push.kind, now):
                raise Held(f"{HELD}: no customer-service send left for it and no template")
            if budget_spent and push.kind not in LAST_SEND_KINDS and self._in_conversation(push, now, window):
                raise Held(f"{HELD}: they are in conversation and their window's sends are spent or kept")
        try:
            return self._send_on(TEMPLATE, push, now)
        except _TemplateUnknown as exc:
            template = self._settings.templates.for_kind(push.kind)
            assert template is not None
            self._learn_unavailable(one_template(template.id), exc, now)
            if can_wait(push):
                raise Held(f"{HELD}: WeChat does not know its template") from exc
            raise SendError(str(exc)) from exc
        except _NoPermission as exc:
            self._learn_unavailable(TEMPLATE_API, exc, now)
            if can_wait(push):
                raise Held(f"{HELD}: the account may not send template messages") from exc
            raise SendError(str(exc)) from exc

    def template_carries(self, kind: str, now: datetime) -> bool:
        """True when a template WeChat has not refused is set up for this kind of push, and the account may
        send templates."""
        template = self._settings.templates.for_kind(kind)
        return (
            template is not None
            and self.may_use(TEMPLATE_API, now)
            and self.may_use(one_template(template.id), now)
        )

    def _in_conversation(self, push: Push, now: datetime, window: timedelta) -> bool:
        """Inside the 48 hours of the resident's last message: they are likely to write again soon."""
        assert push.openid is not None
        with transaction(self._factory) as session:
            return allowances(session, push.openid).in_conversation(now, window)

    def _learn_unavailable(self, api: str, exc: _NoPermission, now: datetime) -> None:
        log.warning("WeChat refused %s: %s; not trying it again", api, exc)
        record_unavailable(self._factory, api, exc.errcode, str(exc), now)
        self._unavailable.add(api)

    def _send_daily_ping(self, push: Push, now: datetime) -> Delivery:
        """A check-in ping on the channel its sweep chose; never a template (the same words every day).

        A subscription message the account may not send (48001, kept) goes as a customer-service message
        while the elder's window is open; otherwise the ping fails, and the reminder and knock follow.
        """
        if not push.openid or not push.subscribed:
            raise Undeliverable(_no_route(push), unsubscribed=not push.subscribed)
        if push.channel == SUBSCRIPTION and self._settings.subscriptions.enabled:
            if self.may_use(SUBSCRIPTION_API, now):
                sent = self._send_subscription_ping(push, now)
                if sent is not None:
                    return sent
            if not self._window_open(push, now):
                raise Undeliverable(
                    "subscription: the account may not send subscription messages and the elder's "
                    "customer-service window is closed; a check-in ping never goes as a template message"
                )
        return self._send_custom_ping(push, now)

    def _send_subscription_ping(self, push: Push, now: datetime) -> Delivery | None:
        """A check-in ping as the subscription message; None when WeChat says the account may not send one."""
        assert push.openid is not None
        try:
            return self._send_on(SUBSCRIPTION, push, now)
        except _ConsentWithdrawn as exc:
            # Their change of mind never reached us as an event: keep WeChat's word, so tomorrow's ping
            # takes the customer-service window or the call list instead of failing again.
            self._record_refusal(push.openid, now)
            raise Undeliverable(f"{exc}; the elder no longer accepts the subscription message") from exc
        except _NoPermission as exc:
            self._learn_unavailable(SUBSCRIPTION_API, exc, now)
            return None

    def _send_custom_ping(self, push: Push, now: datetime) -> Delivery:
        """A check-in ping as a customer-service message; what WeChat refuses fails (the knock follows)."""
        if not self.may_use(CUSTOMER_SERVICE, now):
            raise Undeliverable("custom: the account may not send customer-service messages")
        assert push.openid is not None
        window = timedelta(hours=self._settings.delivery.customer_service_window_hours)
        # WeChat counts a ping among the window's 5 sends like any other customer-service message.
        if not take_window_send(self._factory, push.openid, now, span=window):
            raise Undeliverable(
                "custom: no customer-service send left in the elder's window; "
                "a check-in ping never goes as a template message"
            )
        try:
            return self._send_counted_custom(push, now)
        except _WindowClosed as exc:
            # The knock task follows if the elder does not answer; a template would be abuse.
            raise Undeliverable(f"{exc}; a check-in ping never goes as a template message") from exc
        except _NoPermission as exc:
            self._learn_unavailable(CUSTOMER_SERVICE, exc, now)
            raise Undeliverable(f"{exc}; a check-in ping never goes as a template message") from exc

    def _window_open(self, push: Push, now: datetime) -> bool:
        """Inside the 48 hours of the elder's last message or tap, as WeChat counts them."""
        window = timedelta(hours=self._settings.delivery.customer_service_window_hours)
        return push.last_interaction_at is not None and now - push.last_interaction_at < window

    def _record_refusal(self, openid: str, now: datetime) -> None:
        with transaction(self._factory) as session:
            record_consent(session, openid, self._settings.subscriptions.checkin_template_id, "reject", now)

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
        if code == CONSENT_WITHDRAWN and channel == SUBSCRIPTION:
            return _ConsentWithdrawn(text)
        if code == UNKNOWN_TEMPLATE and channel == TEMPLATE:
            return _TemplateUnknown(text, code)
        if code in NO_PERMISSION_ERRORS and channel in (CUSTOM, TEMPLATE, SUBSCRIPTION):
            return _NoPermission(text, code)
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
        if not self.may_use(one_template(template.id), self._clock()):
            raise SendError(f"template: WeChat does not know template {template.id} ('{template.name}')")
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
    return WeChatMessenger(official_account_client(settings, factory), wecom, settings, clock, factory)

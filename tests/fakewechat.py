"""A local WeChat: the Official Account and WeCom APIs GridDesk calls, on loopback, with switches for trouble.

It checks what WeChat checks: the app's credentials, that the access_token is current (a token fetched
from /token replaces the previous one; /stable_token keeps it unless force_refresh), the JSON shape, and
the customer-service window per openid: a user's message allows 5 sends within 48 hours, a follow, scan
or menu tap 3 within a minute (45015 past the window, 45047 past the count; 48001 for an account with no
customer-service permission, and as well to templates and subscription messages an account may not send).
It learns of users' messages through `heard` (tests/support.py's WeChatServer calls it for every message
it posts to the webhook) or `user_wrote` / `user_tapped`. It keeps a log of delivered messages (and of
sends it refused), counts token fetches, and can fail the next N calls, fail a seeded random share of
calls, add latency, or go down.
The Official Account API lives under /cgi-bin/, WeCom (qyapi) under /qyapi/cgi-bin/.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

TOKEN_SECONDS = 7200
WINDOW_SECONDS = 48 * 3600
MEDIA_SECONDS = 3 * 24 * 3600
# Customer-service messages (since June 2023): a user's message allows 5 within 48 hours; a follow, a QR
# scan or a menu tap 3 within one minute. The allowances do not add up: a send is refused only when no
# allowance still open has room, and every send counts against each open one.
MESSAGE_SENDS, EVENT_SENDS, EVENT_SECONDS = 5, 3, 60
# The events that open the short allowance (wechatpy and WeChat spell them in either case).
WINDOW_EVENTS = frozenset({"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"})
# WeCom delivers at most this many app messages to one member in any minute and any hour; it answers
# errcode 0 for the rest and drops them (the fake keeps them in `dropped`, so tests can count them).
WECOM_PER_MINUTE, WECOM_PER_HOUR = 30, 1000
# Template messages since May 2023: each field's value at most 20 characters, on one line (else 47003);
# "first" and "remark" fields and colours are no longer shown (the fake records what it hid).
TEMPLATE_VALUE_CHARS = 20
TEMPLATE_HIDDEN_FIELDS = ("first", "remark")
# Template ids the fake accepts, by the [templates.<name>] they are configured for.
TEMPLATE_IDS = {
    "new_ticket": "tpl-new-ticket",
    "escalation": "tpl-escalation",
    "status": "tpl-status",
    "checkin": "tpl-checkin",
    "rating": "tpl-rating",
    "default": "tpl-default",
}
# Subscription messages (订阅通知, message/subscribe/bizsend): each field's value must fit its type.
SUBSCRIPTION_RULES = {
    "thing": r"[^\x00-\x1f]{1,20}",
    "phrase": r"[\u4e00-\u9fff]{1,5}",
    "time": r"(?:\d{4}年\d{1,2}月\d{1,2}日 |\d{4}-\d{2}-\d{2} )?\d{1,2}:\d{2}(?::\d{2})?",
    "date": r"\d{4}年\d{1,2}月\d{1,2}日(?: \d{1,2}:\d{2})?|\d{4}-\d{2}-\d{2}",
    "number": r"\d{1,32}(?:\.\d+)?",
    "character_string": r"[0-9A-Za-z\-_.:#]{1,32}",
}
MP_PREFIX, WECOM_PREFIX = "/cgi-bin/", "/qyapi/cgi-bin/"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body and headers."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json; charset=utf-8"),)


def _json(payload: dict[str, Any], status: int = 200) -> Answer:
    return Answer(status, json.dumps(payload, ensure_ascii=False).encode())


def _error(code: int, message: str) -> Answer:
    return _json({"errcode": code, "errmsg": message})


OK = {"errcode": 0, "errmsg": "ok"}


@dataclass(frozen=True)
class Sent:
    """One message the fake delivered to a phone."""

    api: str  # custom, template or wecom
    to: str
    payload: dict[str, Any]
    msgid: int | None
    at: float
    # The Official Account whose access token the message came with ('' for WeCom's).
    appid: str = ""


@dataclass
class _Window:
    """One user's customer-service allowances: since their last message, and since their last tap."""

    message_at: float = float("-inf")
    message_sends: int = 0
    event_at: float = float("-inf")
    event_sends: int = 0

    def open_allowances(self, now: float) -> list[str]:
        """The allowances still inside their time: 'message', 'event'."""
        spans = (("message", self.message_at, WINDOW_SECONDS), ("event", self.event_at, EVENT_SECONDS))
        return [name for name, at, span in spans if now - at <= span]

    def room(self, now: float) -> bool:
        """Whether one more customer-service message may go to this user now."""
        limits = {"message": (self.message_sends, MESSAGE_SENDS), "event": (self.event_sends, EVENT_SENDS)}
        return any(limits[name][0] < limits[name][1] for name in self.open_allowances(now))

    def spend(self, now: float) -> None:
        open_now = self.open_allowances(now)
        self.message_sends += "message" in open_now
        self.event_sends += "event" in open_now


@dataclass
class _Failures:
    """Injected trouble."""

    next_n: int = 0
    next_code: int | None = -1
    next_status: int | None = None
    next_path: str | None = None
    fraction: float = 0.0
    codes: tuple[int, ...] = (-1,)
    rng: random.Random = field(default_factory=random.Random)
    latency: float = 0.0
    down: str | None = None  # "refuse" or "5xx"


class FakeWeChat:
    """The fake platform's state and rules; `start()` serves it over HTTP on 127.0.0.1."""

    def __init__(
        self,
        *,
        appid: str = "wx0123456789abcdef",
        secret: str = "fake-app-secret",
        corp_id: str = "ww0123456789abcdef",
        corp_secret: str = "fake-corp-secret",
        agent_id: int = 1000002,
        templates: Iterable[str] = (),
        subscription_templates: dict[str, tuple[str, ...]] | None = None,
        customer_service: bool = True,
        verified: bool = True,
        subscription_messages: bool = True,
    ) -> None:
        self.appid, self.secret = appid, secret
        # Every Official Account the fake serves (appid -> secret): one, unless `add_account` adds more.
        self.accounts = {appid: secret}
        self.corp_id, self.corp_secret, self.agent_id = corp_id, corp_secret, agent_id
        self.templates = set(templates)
        # Long-term subscription templates the account has (id -> its keywords), and who accepted which.
        self.subscription_templates = dict(subscription_templates or {})
        self._subscriptions: dict[tuple[str, str], bool] = {}
        # A personal-subject account has no customer-service permission; an unverified one no templates;
        # one that is neither a government-service (政务民生) nor a medical account no long-term
        # subscription messages: WeChat answers 48001 (api unauthorized) to each.
        self.customer_service, self.verified = customer_service, verified
        self.subscription_messages = subscription_messages
        self.wecom_users: set[str] = set()
        self.sent: list[Sent] = []
        # WeCom messages answered errcode 0 but never delivered (over a member's per-minute or hourly limit).
        self.dropped: list[Sent] = []
        # Template parts WeChat accepts but no longer shows ("data.first", "data.keyword1.color").
        self.hidden_template_parts: list[str] = []
        self.calls: Counter[str] = Counter()
        self.token_fetches = 0
        self.forced_token_fetches = 0
        self.wecom_token_fetches = 0
        self.injected_failures = 0
        self.template_results: dict[int, str] = {}
        self.menu: dict[str, Any] | None = None
        self.qr_codes: dict[str, str] = {}  # scene -> url of the codes created
        self._offset = 0.0
        self._windows: dict[str, _Window] = {}
        # Sends WeChat refused for the window or the account: (api, openid, errcode).
        self.refused: list[tuple[str, str, int]] = []
        self._unfollowed: set[str] = set()
        self._blocked: set[str] = set()
        self._unknown: set[str] = set()
        self._template_blockers: set[str] = set()
        self._media: dict[str, tuple[bytes, str, str, float]] = {}
        self._tokens: dict[str, float] = {}  # Official Account token -> expiry
        self._token_app: dict[str, str] = {}  # Official Account token -> the appid it was issued to
        self._classic: dict[str, str] = {}  # appid -> its current classic token
        self._stable: dict[str, str] = {}  # appid -> its current stable token
        self._wecom_tokens: dict[str, float] = {}
        self._wecom_current: str | None = None
        self._msgid = 400_000_000
        self._failures = _Failures()
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- serving

    def start(self) -> FakeWeChat:
        """Listen on loopback (a free port the first time, the same port after `come_back`)."""
        server = _QuietServer(("127.0.0.1", self.port), _handler_for(self))
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-wechat", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def mp_base_url(self) -> str:
        """What api.weixin.qq.com/cgi-bin/ is to GridDesk."""
        return f"http://127.0.0.1:{self.port}{MP_PREFIX}"

    @property
    def wecom_base_url(self) -> str:
        """What qyapi.weixin.qq.com/cgi-bin/ is to GridDesk."""
        return f"http://127.0.0.1:{self.port}{WECOM_PREFIX}"

    # ---- the world the test sets up

    def now(self) -> float:
        """The fake platform's time (real time, moved on by `advance`)."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the platform's clock: tokens, windows and media age."""
        with self._lock:
            self._offset += seconds

    def add_account(self, appid: str, secret: str) -> None:
        """Serve one more Official Account (a street deployment's other community): tokens of its own."""
        with self._lock:
            self.accounts[appid] = secret

    def user_wrote(self, openid: str, seconds_ago: float = 0) -> None:
        """The user messaged the account: 5 customer-service messages may follow within 48 hours."""
        with self._lock:
            window = self._windows.setdefault(openid, _Window())
            window.message_at, window.message_sends = self.now() - seconds_ago, 0

    def user_tapped(self, openid: str, seconds_ago: float = 0) -> None:
        """The user followed, scanned a QR code or tapped a menu button: 3 may follow within a minute."""
        with self._lock:
            window = self._windows.setdefault(openid, _Window())
            window.event_at, window.event_sends = self.now() - seconds_ago, 0

    def heard(self, xml: str) -> None:
        """A message or event WeChat delivered to the account's webhook: it opens that user's window."""
        fields = _xml_fields(xml)
        openid, msg_type = fields.get("FromUserName", ""), fields.get("MsgType", "")
        if not openid:
            return
        if msg_type != "event":
            self.user_wrote(openid)
        elif fields.get("Event", "").lower() in WINDOW_EVENTS:
            self.user_tapped(openid)

    def custom_sends(self, openid: str) -> list[Sent]:
        """The customer-service messages delivered to one user, in order."""
        return [s for s in self.sent if s.api == "custom" and s.to == openid]

    def unfollow(self, openid: str) -> None:
        """The user unfollowed (43004)."""
        self._unfollowed.add(openid)

    def blacklist(self, openid: str) -> None:
        """The account blacklisted the user (43019)."""
        self._blocked.add(openid)

    def forget(self, openid: str) -> None:
        """No such openid for this app (40003)."""
        self._unknown.add(openid)

    def block_templates(self, openid: str) -> None:
        """The user refuses template messages: they are accepted, then finish as 'failed:user block'."""
        self._template_blockers.add(openid)

    def subscribe_popup(self, openid: str, choices: dict[str, bool], *, created: int | None = None) -> str:
        """The user answered the subscription popup (True: 同意): WeChat keeps it and pushes this event."""
        with self._lock:
            self._subscriptions.update({(openid, tid): accepted for tid, accepted in choices.items()})
        items = "".join(
            f"<List><TemplateId><![CDATA[{tid}]]></TemplateId><SubscribeStatusString><![CDATA["
            f"{'accept' if accepted else 'reject'}]]></SubscribeStatusString>"
            "<PopupScene>1</PopupScene></List>"
            for tid, accepted in choices.items()
        )
        body = f"<SubscribeMsgPopupEvent>{items}</SubscribeMsgPopupEvent>"
        return _event_xml(openid, "subscribe_msg_popup_event", body, created)

    def subscription_turned_off(self, openid: str, template_id: str, *, created: int | None = None) -> str:
        """The user refused the template in their settings: WeChat pushes subscribe_msg_change_event."""
        with self._lock:
            self._subscriptions[(openid, template_id)] = False
        items = (
            f"<List><TemplateId><![CDATA[{template_id}]]></TemplateId>"
            "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List>"
        )
        body = f"<SubscribeMsgChangeEvent>{items}</SubscribeMsgChangeEvent>"
        return _event_xml(openid, "subscribe_msg_change_event", body, created)

    def add_media(self, media_id: str, data: bytes, content_type: str, filename: str) -> None:
        """A photo or voice message a user sent; /media/get serves it for 3 days."""
        with self._lock:
            self._media[media_id] = (data, content_type, filename, self.now())

    def add_wecom_user(self, userid: str) -> None:
        """A member the WeCom app may message."""
        self.wecom_users.add(userid)

    # ---- switches

    def fail_next(
        self, n: int, errcode: int | None = -1, *, http_status: int | None = None, path: str | None = None
    ) -> None:
        """Fail the next n calls (to paths ending with `path`, if given) with an errcode or an HTTP status."""
        with self._lock:
            f = self._failures
            f.next_n, f.next_code, f.next_status, f.next_path = n, errcode, http_status, path

    def fail_randomly(self, fraction: float, seed: int = 0, errcodes: Iterable[int] = (-1,)) -> None:
        """Fail this share of all calls, chosen by a seeded random generator, with one of the errcodes."""
        with self._lock:
            f = self._failures
            f.fraction, f.codes, f.rng = fraction, tuple(errcodes), random.Random(seed)

    def set_latency(self, seconds: float) -> None:
        """Answer every call this much later."""
        self._failures.latency = seconds

    def go_down(self, mode: str = "refuse") -> None:
        """'refuse': connections are refused or dropped; '5xx': every call gets HTTP 503."""
        if mode not in ("refuse", "5xx"):
            raise ValueError(mode)
        self._failures.down = mode
        if mode == "refuse":
            self.stop()

    def come_back(self) -> None:
        """Serve again, on the same port."""
        down, self._failures.down = self._failures.down, None
        if down == "refuse":
            self.start()

    def expire_tokens(self) -> None:
        """Every access token issued so far has expired (42001 from now on)."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)
            self._wecom_tokens = dict.fromkeys(self._wecom_tokens, 0.0)

    # ---- what the test reads

    def wecom_peaks(self, user: str) -> tuple[int, int]:
        """The most WeCom messages delivered to one member within any 60 seconds, and within any hour."""
        times = sorted(s.at for s in self.sent if s.api == "wecom" and s.to == user)
        return _most_within(times, 60), _most_within(times, 3600)

    def sent_to(self, recipient: str) -> list[Sent]:
        """Messages delivered to one openid or WeCom user id, in order."""
        return [s for s in self.sent if s.to == recipient]

    @property
    def api_calls(self) -> int:
        """Every call made to the fake, token endpoints included."""
        return sum(self.calls.values())

    # ---- the protocol

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> Answer:
        """Answer one request as WeChat would."""
        with self._lock:
            self.calls[path] += 1
            injected = self._injected(path)
        if injected is not None:
            return injected
        routes = {
            ("GET", MP_PREFIX + "token"): self._token,
            ("POST", MP_PREFIX + "stable_token"): self._stable_token,
            ("POST", MP_PREFIX + "message/custom/send"): self._custom_send,
            ("POST", MP_PREFIX + "message/template/send"): self._template_send,
            ("POST", MP_PREFIX + "message/subscribe/bizsend"): self._subscription_send,
            ("GET", MP_PREFIX + "media/get"): self._media_get,
            ("POST", MP_PREFIX + "menu/create"): self._menu_create,
            ("POST", MP_PREFIX + "qrcode/create"): self._qrcode_create,
            ("GET", MP_PREFIX + "template/get_all_private_template"): self._template_list,
            ("GET", WECOM_PREFIX + "gettoken"): self._wecom_token,
            ("POST", WECOM_PREFIX + "message/send"): self._wecom_send,
        }
        route = routes.get((method, path))
        if route is None:
            return Answer(404, b"not found", (("Content-Type", "text/plain"),))
        with self._lock:
            return route(query, body)

    def _injected(self, path: str) -> Answer | None:
        f = self._failures
        if f.down == "5xx":
            self.injected_failures += 1
            return Answer(503, b"<html>503 Service Unavailable</html>", (("Content-Type", "text/html"),))
        if f.next_n > 0 and (f.next_path is None or path.endswith(f.next_path)):
            f.next_n -= 1
            self.injected_failures += 1
            if f.next_status is not None:
                return Answer(f.next_status, b"<html>error</html>", (("Content-Type", "text/html"),))
            return _error(f.next_code if f.next_code is not None else -1, "injected failure")
        if f.fraction and f.rng.random() < f.fraction:
            self.injected_failures += 1
            return _error(f.rng.choice(f.codes), "system error (injected)")
        return None

    def _issue(self, tokens: dict[str, float], appid: str = "") -> str:
        token = secrets.token_urlsafe(24)
        tokens[token] = self.now() + TOKEN_SECONDS
        self._token_app[token] = appid
        return token

    def _token(self, query: dict[str, str], _body: bytes) -> Answer:
        if query.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        refused = self._check_app(query.get("appid"), query.get("secret"))
        if refused:
            return refused
        self.token_fetches += 1
        # A new classic token replaces the account's previous one, as on the real platform.
        appid = query["appid"]
        self._tokens.pop(self._classic.get(appid, ""), None)
        self._classic[appid] = self._issue(self._tokens, appid)
        return _json({"access_token": self._classic[appid], "expires_in": TOKEN_SECONDS})

    def _stable_token(self, _query: dict[str, str], body: bytes) -> Answer:
        data = _load(body)
        if data is None or data.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        refused = self._check_app(data.get("appid"), data.get("secret"))
        if refused:
            return refused
        self.token_fetches += 1
        appid = data["appid"]
        left = self._tokens.get(self._stable.get(appid, ""), 0.0) - self.now()
        self.forced_token_fetches += bool(data.get("force_refresh"))
        if data.get("force_refresh") or left <= 0:
            self._tokens.pop(self._stable.get(appid, ""), None)
            self._stable[appid] = self._issue(self._tokens, appid)
            left = TOKEN_SECONDS
        return _json({"access_token": self._stable[appid], "expires_in": int(left)})

    def _check_app(self, appid: str | None, secret: str | None) -> Answer | None:
        if appid not in self.accounts:
            return _error(40013, "invalid appid")
        if secret != self.accounts[appid]:
            return _error(40125, "invalid appsecret")
        return None

    def _check_token(self, query: dict[str, str], tokens: dict[str, float], invalid: int) -> Answer | None:
        token = query.get("access_token")
        if not token:
            return _error(41001, "access_token missing")
        if token not in tokens:
            return _error(invalid, "invalid credential, access_token is invalid or not latest")
        if tokens[token] <= self.now():
            return _error(42001, "access_token expired")
        return None

    def _app_of(self, query: dict[str, str]) -> str:
        """The Official Account whose (checked) access token a call came with."""
        return self._token_app[query["access_token"]]

    def _check_user(self, openid: Any) -> Answer | None:
        if not isinstance(openid, str) or not openid or openid in self._unknown:
            return _error(40003, "invalid openid")
        if openid in self._unfollowed:
            return _error(43004, "require subscribe")
        if openid in self._blocked:
            return _error(43019, "require remove blacklist")
        return None

    def _addressed(self, query: dict[str, str], body: bytes) -> tuple[dict[str, Any], str, Answer | None]:
        """A send request's JSON and recipient, or WeChat's refusal (bad token, shape or recipient)."""
        data = _load(body)
        refused = self._check_token(query, self._tokens, 40001)
        if refused or data is None:
            return {}, "", refused or _error(47001, "data format error")
        openid = data.get("touser")
        return data, openid, self._check_user(openid)

    def _custom_send(self, query: dict[str, str], body: bytes) -> Answer:
        data, openid, refused = self._addressed(query, body)
        if refused:
            return refused
        if data.get("msgtype") != "text":
            return _error(40008, "invalid message type")
        content = (data.get("text") or {}).get("content")
        if not isinstance(content, str) or not content:
            return _error(44003, "empty news data")
        if not self.customer_service:
            return self._refuse("custom", openid, 48001, "api unauthorized")
        window, now = self._windows.get(openid, _Window()), self.now()
        if not window.open_allowances(now):
            return self._refuse("custom", openid, 45015, "response out of time limit")
        if not window.room(now):
            return self._refuse("custom", openid, 45047, "out of response count limit")
        window.spend(now)
        self.sent.append(Sent("custom", openid, data, None, self.now(), self._app_of(query)))
        return _json(OK)

    def _template_send(self, query: dict[str, str], body: bytes) -> Answer:
        data, openid, refused = self._addressed(query, body)
        if refused:
            return refused
        if not self.verified:
            return self._refuse("template", openid, 48001, "api unauthorized")
        if data.get("template_id") not in self.templates:
            return _error(40037, "invalid template_id")
        fields = data.get("data")
        if not isinstance(fields, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in fields.values()
        ):
            return _error(47001, "data format error")
        for name, field_ in fields.items():
            value = field_["value"]
            if len(value) > TEMPLATE_VALUE_CHARS or "\n" in value or "\r" in value:
                return _error(47003, f"argument invalid! data.{name}.value invalid")
        self._hide_old_template_parts(fields)
        self._msgid += 1
        self.sent.append(Sent("template", openid, data, self._msgid, self.now(), self._app_of(query)))
        blocked = openid in self._template_blockers
        self.template_results[self._msgid] = "failed:user block" if blocked else "success"
        return _json(OK | {"msgid": self._msgid})

    def _subscription_send(self, query: dict[str, str], body: bytes) -> Answer:
        """bizsend: a template the account has, a user who accepted it, every keyword filled by its type."""
        data, openid, refused = self._addressed(query, body)
        if refused:
            return refused
        if not self.subscription_messages:
            return self._refuse("subscription", openid, 48001, "api unauthorized")
        keywords = self.subscription_templates.get(data.get("template_id"))
        if keywords is None:
            return _error(40037, "invalid template_id")
        if not self._subscriptions.get((openid, data["template_id"])):
            return _error(43101, "user refuse to accept the msg")
        fields = data.get("data")
        if not isinstance(fields, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in fields.values()
        ):
            return _error(47001, "data format error")
        for name in keywords:
            value = (fields.get(name) or {}).get("value", "")
            if not value:
                return _error(47003, f"argument invalid! data.{name}.value is empty")
            if not re.fullmatch(SUBSCRIPTION_RULES[name.rstrip("0123456789")], value):
                return _error(47003, f"argument invalid! data.{name}.value invalid")
        self._msgid += 1
        self.sent.append(Sent("subscription", openid, data, self._msgid, self.now(), self._app_of(query)))
        return _json(OK)

    def _refuse(self, api: str, openid: str, code: int, message: str) -> Answer:
        self.refused.append((api, openid, code))
        return _error(code, message)

    def _hide_old_template_parts(self, fields: dict[str, Any]) -> None:
        """What WeChat ignores since May 2023: the first line, the remark, and colours."""
        self.hidden_template_parts += [f"data.{name}" for name in fields if name in TEMPLATE_HIDDEN_FIELDS]
        self.hidden_template_parts += [f"data.{name}.color" for name, f in fields.items() if "color" in f]

    def _media_get(self, query: dict[str, str], _body: bytes) -> Answer:
        refused = self._check_token(query, self._tokens, 40001)
        if refused:
            return refused
        media = self._media.get(query.get("media_id", ""))
        if media is None or self.now() - media[3] > MEDIA_SECONDS:
            return _error(40007, "invalid media_id")
        data, content_type, filename, _ = media
        headers = (
            ("Content-Type", content_type),
            ("Content-disposition", f'attachment; filename="{filename}"'),
        )
        return Answer(200, data, headers)

    def _menu_create(self, query: dict[str, str], body: bytes) -> Answer:
        refused = self._check_token(query, self._tokens, 40001)
        if refused:
            return refused
        buttons = (_load(body) or {}).get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return _error(40016, "invalid button size")
        self.menu = _load(body)
        return _json(OK)

    def _template_list(self, query: dict[str, str], _body: bytes) -> Answer:
        """The account's templates (模板消息 → 我的模板), as get_all_private_template lists them."""
        refused = self._check_token(query, self._tokens, 40001)
        if refused:
            return refused
        if not self.verified:
            return _error(48001, "api unauthorized")
        listed = [
            {
                "template_id": template_id,
                "title": "工单进度通知",
                "primary_industry": "政府与公共事业",
                "deputy_industry": "政务民生",
                "content": "{{thing1.DATA}}",
                "example": "",
            }
            for template_id in sorted(self.templates)
        ]
        return _json({"template_list": listed})

    def _qrcode_create(self, query: dict[str, str], body: bytes) -> Answer:
        refused = self._check_token(query, self._tokens, 40001)
        if refused:
            return refused
        data = _load(body) or {}
        kinds = ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
        if data.get("action_name") not in kinds or "scene" not in (data.get("action_info") or {}):
            return _error(40053, "invalid action info")
        scene = data["action_info"]["scene"]
        if not isinstance(scene, dict) or not (scene.get("scene_str") or scene.get("scene_id")):
            return _error(40053, "invalid action info")
        ticket = secrets.token_urlsafe(16)
        expires = int(data.get("expire_seconds", 60)) if "LIMIT" not in data["action_name"] else None
        url = f"http://weixin.qq.com/q/{ticket}"
        self.qr_codes[str(scene.get("scene_str") or scene.get("scene_id"))] = url
        return _json({"ticket": ticket, "expire_seconds": expires, "url": url})

    def _wecom_token(self, query: dict[str, str], _body: bytes) -> Answer:
        if query.get("corpid") != self.corp_id:
            return _error(40013, "invalid corpid")
        if query.get("corpsecret") != self.corp_secret:
            return _error(40001, "invalid secret")
        self.wecom_token_fetches += 1
        # WeCom hands out the same token until it expires.
        current = self._wecom_current
        if current is None or self._wecom_tokens.get(current, 0.0) <= self.now():
            current = self._wecom_current = self._issue(self._wecom_tokens)
        left = int(self._wecom_tokens[current] - self.now())
        return _json(OK | {"access_token": current, "expires_in": left})

    def _wecom_send(self, query: dict[str, str], body: bytes) -> Answer:
        data = _load(body)
        refused = self._check_token(query, self._wecom_tokens, 40014)
        if refused or data is None:
            return refused or _error(40058, "invalid json")
        if data.get("agentid") != self.agent_id:
            return _error(40056, "invalid agentid")
        message = data.get(data.get("msgtype", ""))
        if data.get("msgtype") == "text" and not (message or {}).get("content"):
            return _error(44004, "empty content")
        if data.get("msgtype") == "textcard" and not all((message or {}).get(k) for k in ("title", "url")):
            return _error(41001, "missing title or url")
        if data.get("msgtype") not in ("text", "textcard"):
            return _error(40008, "invalid message type")
        users = [u for u in str(data.get("touser", "")).split("|") if u]
        invalid = [u for u in users if u not in self.wecom_users]
        if len(invalid) == len(users):
            payload = {"errcode": 81013, "errmsg": "user & party & tag all invalid"}
            return _json(payload | {"invaliduser": "|".join(invalid)})
        self._msgid += 1
        for user in users:
            if user not in invalid:
                sent = Sent("wecom", user, data, self._msgid, self.now())
                (self.sent if self._wecom_room(user) else self.dropped).append(sent)
        return _json(OK | {"invaliduser": "|".join(invalid), "msgid": f"wecom-{self._msgid}"})


    def _wecom_room(self, user: str) -> bool:
        """Whether WeCom still delivers to this member: under 30 in the last minute and 1,000 in the hour."""
        now = self.now()
        times = [s.at for s in self.sent if s.api == "wecom" and s.to == user and s.at > now - 3600]
        in_minute = sum(1 for at in times if at > now - 60)
        return in_minute < WECOM_PER_MINUTE and len(times) < WECOM_PER_HOUR


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout) leaves a broken pipe behind; WeChat would not care either


def _most_within(times: list[float], span: float) -> int:
    """The most of these sorted times that fall within any window of `span` seconds."""
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= span:
            first += 1
        most = max(most, last - first + 1)
    return most


def _event_xml(openid: str, event: str, body: str, created: int | None) -> str:
    """An event WeChat pushes to the account's server, as the webhook receives it."""
    at = created if created is not None else int(time.time())
    return (
        f"<xml><ToUserName><![CDATA[gh_fake]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{at}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{body}</xml>"
    )


def _xml_fields(xml: str) -> dict[str, str]:
    """The top-level fields of a webhook message's XML (FromUserName, MsgType, Event ...)."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return {}
    return {child.tag: (child.text or "").strip() for child in root}


def _load(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _handler_for(fake: FakeWeChat) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes; with Nagle on, each answer waits for a delayed ACK.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if fake._failures.down == "refuse":
                # Down: a kept-alive connection is dropped without an answer.
                self.close_connection = True
                return
            if fake._failures.latency:
                time.sleep(fake._failures.latency)
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            answer = fake.answer(method, url.path, query, body)
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the tests read the fake's own log

    return Handler

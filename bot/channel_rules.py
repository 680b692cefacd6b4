"""WeChat's and WeCom's answers and limits as the channels read them: which channel fits a push, the
error codes that mean something to delivery, and the sizes a WeCom card may have."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

from bot.messenger import Push

CUSTOM, TEMPLATE, WECOM, SUBSCRIPTION = "custom", "template", "wecom", "subscription"
# 45015: the 48-hour window is closed; 45047: too many customer-service messages since the user wrote.
WINDOW_ERRORS = frozenset({45015, 45047})
# The console's one-time sign-in link that handlers add to a worker's push (bot/console/links.py).
CONSOLE_GO_LINK = re.compile(r"https?://\S+/console/go/[A-Za-z0-9_-]+")
# Any console page a push's text names (an alert's "http://…/console/tickets/1"): a template's 20-character
# fields cannot carry it, the message's own link can.
CONSOLE_PAGE_LINK = re.compile(r"https?://\S+/console(?:/\S*)?")
# 48001: the account has no permission for this API (customer-service messages on a personal-subject
# account, templates on an unverified one); 48004: the API is banned for the account.
NO_PERMISSION_ERRORS = frozenset({48001, 48004})
# 40037: the template id is not one of the account's (deleted in its admin pages, or mistyped).
UNKNOWN_TEMPLATE = 40037
# What the account may not use, read from the database again after this long (another process may learn).
CAPABILITIES_FRESH = timedelta(seconds=30)
# -1: "system busy", WeChat's own trouble rather than the push's.
SYSTEM_BUSY = -1
# 45009: daily quota used up; 45011: per-minute quota.
QUOTA_ERRORS = frozenset({45009, 45011})
# 43004 unfollowed, 43019 blacklisted us, 40003 no such openid: the resident is gone for now.
UNSUBSCRIBED_ERRORS = frozenset({43004, 43019, 40003})
# 43101: the user refuses the (subscription) message: they turned it off.
CONSENT_WITHDRAWN = 43101
# WeCom 60111 no such user, 81013 every recipient invalid.
GONE_ERRORS = UNSUBSCRIBED_ERRORS | {CONSENT_WITHDRAWN, 60111, 81013}
WECOM_TITLE_BYTES, WECOM_CARD_BYTES = 128, 512
HELD = "held for the resident's next message"


def choose_channel(push: Push, now: datetime, *, window: timedelta, wecom: bool) -> str | None:
    """WeCom for staff who have it, a customer-service message inside the window, else a template."""
    if push.wecom_userid and wecom:
        return WECOM
    if not push.openid or not push.subscribed:
        return None
    if push.last_interaction_at is not None and now - push.last_interaction_at < window:
        return CUSTOM
    return TEMPLATE


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

"""Residents' news held for their next message (bot/dispatcher/budget.py): a line in that reply, and
我的工单 shows it.

When a resident's customer-service window has no send left for routine news (progress notes, say) and
they are likely to write again, the news is held rather than spent on a template cut to 20 characters.
Their next reply costs no send: it carries one line saying how much is waiting, and 我的工单 lists it.
"""

from __future__ import annotations

from handlers.context import Reply, Services
from storage.outbox import held_count, held_for

HELD_LINE = "您有{count}条工单进展未读,回复“我的工单”查看。"
# Held items one 我的工单 reply spells out (a passive reply must stay short); the rest wait for the next.
SHOWN_AT_MOST, ITEM_CHARS = 5, 150


def with_held_line(services: Services, openid: str, reply: Reply) -> Reply:
    """The reply, with a line saying how many updates wait for the resident, if any do."""
    if reply.text is None:
        return reply
    waiting = held_count(services.session, openid)
    if not waiting:
        return reply
    return Reply(f"{reply.text}\n{HELD_LINE.format(count=waiting)}", reply.ticket_id)


def show_held(services: Services, openid: str) -> list[str]:
    """Lines for 我的工单: the held updates it shows, which count as read from now on."""
    waiting = held_for(services.session, openid)
    if not waiting:
        return []
    lines = [f"未读的工单进展({len(waiting)}条):"]
    for row in waiting[:SHOWN_AT_MOST]:
        text = " ".join(row.text.split())
        lines.append(f"· {text if len(text) <= ITEM_CHARS else text[: ITEM_CHARS - 1] + '…'}")
        row.status, row.channel, row.sent_at, row.last_error = "shown", "reply", services.now, None
    if len(waiting) > SHOWN_AT_MOST:
        lines.append(f"还有{len(waiting) - SHOWN_AT_MOST}条,再回复“我的工单”查看。")
    return lines

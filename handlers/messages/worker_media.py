"""A grid worker's photos and voice messages: they go with the ticket the worker is working on."""

from __future__ import annotations

from datetime import timedelta

from handlers.context import Incoming, Reply, Services
from handlers.tickets.core import OPEN_STATUSES, record_event
from handlers.tickets.lifecycle import tell_resident
from storage.models import Ticket, Worker
from storage.repositories import tickets as ticket_queries

# A worker photographs the result on the same visit, so the ticket they last touched within a day is the
# one they mean; after that the guess could land on the wrong resident's ticket, and asking costs a reply.
RECENT_ACTION = timedelta(hours=24)
# What counts as working on a ticket: the worker's own commands, and their earlier photos and voice.
WORKER_ACTIONS = ("acknowledge", "progress", "resolve", "extend", "worker_photo", "worker_voice")
# A photo of the result may come just after 办结, while the resident is being asked to rate.
MAY_ATTACH = (*OPEN_STATUSES, "resolved")
PHOTO, VOICE = "worker_photo", "worker_voice"
# Residents cannot open the console, and the outbox sends text only: they are told the photo exists and
# where it is kept, so they can ask to see it.
RESULT_PHOTO_NOTE = "网格员拍下了办理结果的照片({count}张),已存入工单记录,如需查看可联系网格员或社区。"
ASK_WHICH_TICKET = "请先回复“进度 工单号 说明”或“办结 工单号 说明”,再发{what},{what}会附在那个工单上。"


def handle_worker_media(services: Services, worker: Worker, incoming: Incoming) -> Reply:
    """Attach a worker's photo or voice to the ticket they last acted on, or ask which ticket it is for."""
    photo = incoming.msg_type == "image"
    what = "照片" if photo else "语音"
    ticket = current_ticket(services, worker)
    if ticket is None:
        return Reply(ASK_WHICH_TICKET.format(what=what))
    told = ""
    if photo and ticket.status != "resolved":
        told = "办结时会告诉居民有办理结果的照片。"
    elif photo and not _photos_since_resolved(services, ticket):
        # The rating request went out without it: the resident hears of the photo once.
        tell_resident(services, ticket, f"工单 #{ticket.id}:{RESULT_PHOTO_NOTE.format(count=1)}")
        told = "已告诉居民。"
    record_event(services, ticket, PHOTO if photo else VOICE, worker.name, f"网格员上传了{what}")
    ticket.updated_at = services.now
    return Reply(f"{what}已附在工单 #{ticket.id}。{told}", ticket.id)


def current_ticket(services: Services, worker: Worker) -> Ticket | None:
    """The ticket the worker last acted on in the last day, if it is still theirs and not finished."""
    # Events name their actor, not their id: the assignee check below keeps a namesake's ticket out.
    ticket_id = ticket_queries.last_acted_on(
        services.session, worker.name, WORKER_ACTIONS, services.now - RECENT_ACTION
    )
    ticket = services.session.get(Ticket, ticket_id) if ticket_id is not None else None
    if ticket is None or ticket.assignee_id != worker.id or ticket.status not in MAY_ATTACH:
        return None
    return ticket


def result_photo_note(services: Services, ticket: Ticket) -> str:
    """The line telling the resident the workers photographed the result ('' when they did not)."""
    count = ticket_queries.count_events(services.session, ticket.id, PHOTO)
    return RESULT_PHOTO_NOTE.format(count=count) if count else ""


def _photos_since_resolved(services: Services, ticket: Ticket) -> bool:
    return ticket_queries.event_since(services.session, ticket.id, PHOTO, ticket.resolved_at)

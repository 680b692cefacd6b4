"""Family members who follow an elder: who follows whom, unbinding, "我来联系" (codes: family_codes.py)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from handlers.context import Reply, Services
from handlers.language.normalize import simplify
from handlers.register.entries import is_placeholder
from handlers.tickets.core import OPEN_STATUSES, assignee_phrase, record_event
from handlers.tickets.lifecycle import tell_worker
from storage.erasure import is_forgotten_openid
from storage.models import AuditEvent, FamilyFollower, Resident, Ticket
from storage.outbox import queue_push
from storage.repositories import families

MAX_FOLLOWERS = 4
UNFOLLOW = re.compile(r"^取消关注家人\s*(?P<name>.*)$")
ELDER_LIST = frozenset({"我的家属", "我的家人", "家属列表"})
ELDER_REMOVE = re.compile(r"^解除家属\s*(?P<number>\d+)?$")
TAKE_CALL = frozenset({"我来联系", "我来联系吧", "我联系", "我来打电话", "我来联系老人"})
FOLLOW_AUDIT, UNFOLLOW_AUDIT = "family_follow", "family_unfollow"


def followers_of(session: Session, elder: Resident) -> list[Resident]:
    """The elder's family followers, oldest first."""
    return families.followers_of(session, elder.id)


def elders_followed_by(session: Session, follower: Resident) -> list[Resident]:
    """The elders this person follows, oldest binding first."""
    if follower.id is None:
        return []
    return families.elders_followed_by(session, follower.id)


def unfollow(services: Services, follower: Resident, name: str) -> Reply:
    """取消关注家人 [姓名]: the family member stops following (the one elder, or the one named)."""
    elders = elders_followed_by(services.session, follower)
    if name:
        elders = [elder for elder in elders if elder.name == name]
    if not elders:
        return Reply(
            "您目前没有关注家人的平安问候。" if not name else f"您没有关注{name}的平安问候,请核对姓名。"
        )
    if len(elders) > 1:
        names = "、".join(elder.name or "未登记姓名" for elder in elders)
        return Reply(f"您关注了{names}。请写上姓名,例如“取消关注家人 {elders[0].name or ''}”。")
    elder = elders[0]
    _unbind(services, elder, follower, "家属本人")
    tell(services, elder, "family_unfollowed", "【家属关注】您的一位家人已取消关注您的平安问候。")
    return Reply(f"已取消关注{elder.name or '家人'}的平安问候,今后不再收到相关提醒。")


def list_followers(services: Services, elder: Resident) -> Reply:
    """我的家属: who follows the elder, numbered for 解除家属 N."""
    rows = _follows_of(services.session, elder)
    followed = elders_followed_by(services.session, elder) if not rows else []
    if followed:  # a relative asking: whom they follow
        names = "、".join(someone.name or "未登记姓名" for someone in followed)
        return Reply(f"您正在关注{names}的平安问候。回复“取消关注家人”可解除。")
    if not rows:
        return Reply("目前没有家属关注您的平安问候。家人可以向网格员索取家属码来关注。")
    zone = ZoneInfo(services.settings.timezone)
    lines = [f"有{len(rows)}位家属关注您的平安问候:"]
    for number, (row, follower) in enumerate(rows, start=1):
        since = row.created_at.astimezone(zone)
        lines.append(f"{number}. {_label(row, follower)}({since.month}月{since.day}日起)")
    lines.append("回复“解除家属 1”可解除第1位。")
    return Reply("\n".join(lines))


def remove_follower(services: Services, elder: Resident, number: int | None, actor: str) -> Reply:
    """The elder (解除家属 N) or a worker removes one follower; they are told."""
    rows = _follows_of(services.session, elder)
    if not rows:
        return Reply(f"{_whose(elder, actor)}目前没有家属关注。")
    if number is None:
        if len(rows) > 1:
            return Reply(f"{_whose(elder, actor)}有{len(rows)}位家属关注,请写上序号,例如“解除家属 1”。")
        number = 1
    if not 1 <= number <= len(rows):
        return Reply(f"没有第{number}位家属,请核对序号(共{len(rows)}位)。")
    row, follower = rows[number - 1]
    _unbind(services, elder, follower, actor)
    if actor != "本人":
        text = f"【家属关注】社区工作人员已解除{who_for_elder(row.relation)}对您平安问候的关注。"
        tell(services, elder, "family_unfollowed", text)
    by = f"{elder.name or '老人'}本人" if actor == "本人" else "社区工作人员"
    tell(
        services,
        follower,
        "family_unfollowed",
        f"【家属关注】您对{elder.name or '家人'}平安问候的关注已由{by}解除,今后不再收到相关提醒。"
        "如有疑问,请联系网格员。",
    )
    return Reply(f"已解除第{number}位家属的关注。")


def followers_for_worker(services: Services, elder: Resident) -> str:
    """The numbered followers of an elder, for the worker's reply."""
    rows = _follows_of(services.session, elder)
    listed = "、".join(f"{n}. {_label(row, f)}" for n, (row, f) in enumerate(rows, start=1))
    return listed or "无"


def take_the_call(services: Services, follower: Resident) -> Reply | None:
    """我来联系: noted on each open 敲门 task of an elder they follow, and its holder told; None if none."""
    knocks = _open_knocks(services.session, follower)
    if not knocks:
        if not elders_followed_by(services.session, follower):
            return None
        return Reply("谢谢您!您关注的家人目前都已报平安,没有需要联系的提醒。")
    for row, elder, ticket in knocks:
        who = _relation(row, follower)
        record_event(services, ticket, "family_contact", who, "家属回复“我来联系”:由家属联系老人")
        text = (
            f"【家属联系 #{ticket.id}】{elder.name or '老人'}的{who}回复“我来联系”,"
            "会自己联系老人。敲门任务仍在您名下:联系上后请办结,联系不上仍请上门。"
        )
        tell_worker(services, ticket.assignee, ticket, text, "family_contact")
    _row, first_elder, first_ticket = knocks[0]
    return Reply(
        f"好的,谢谢您!已告诉{assignee_phrase(first_ticket)},由您联系{first_elder.name or '老人'}。"
        "网格员仍会跟进;联系上老人后,请老人回复“1”报平安,或告诉网格员。",
        first_ticket.id,
    )


def is_take_call(text: str) -> bool:
    """True for "我来联系" and its close variants."""
    return re.sub(r"[\s,。!!,.]", "", simplify(text)) in TAKE_CALL


def _open_knocks(session: Session, follower: Resident) -> list[tuple[FamilyFollower, Resident, Ticket]]:
    """(following, elder, open knock ticket) for every elder this person follows who missed a check-in."""
    found = []
    for row, elder in families.followings_of(session, follower.id) if follower.id is not None else []:
        ticket = families.open_knock(session, elder.id, OPEN_STATUSES)
        if ticket is not None:
            found.append((row, elder, ticket))
    return found


def _label(row: FamilyFollower, follower: Resident) -> str:
    """How the elder and the worker see a follower: the relation the code named, their name, or a word."""
    return row.relation or follower.name or "微信家属"


def _relation(row: FamilyFollower, follower: Resident) -> str:
    """'家属(女儿)', or plain '家属' when neither a relation nor a name is known."""
    known = row.relation or follower.name
    return f"家属({known})" if known else "家属"


def _follows_of(session: Session, elder: Resident) -> list[tuple[FamilyFollower, Resident]]:
    return families.follows_of(session, elder.id)


def follower_count(session: Session, elder: Resident) -> int:
    """How many family members follow the elder."""
    return families.follower_count(session, elder.id)


def saved_id(session: Session, resident: Resident) -> int:
    """The resident's id, flushing a first-contact row so the binding can point at it."""
    if resident.id is None:
        session.add(resident)
        session.flush()
    return resident.id


def _unbind(services: Services, elder: Resident, follower: Resident, actor: str) -> None:
    families.unbind(services.session, elder.id, follower.id)
    audit(services, UNFOLLOW_AUDIT, actor, elder, follower)


def audit(services: Services, action: str, actor: str, elder: Resident, follower: Resident) -> None:
    """Who bound or unbound whom, by ids only."""
    event = AuditEvent(
        action=action,
        actor=actor[:80],
        subject=f"resident #{elder.id}",
        detail=f"follower resident #{follower.id}",
    )
    event.created_at = services.now
    services.session.add(event)


def can_push(resident: Resident) -> bool:
    """True for someone on the Official Account who can receive a push (followed, not a register entry)."""
    openid = resident.openid
    return resident.subscribed and not is_placeholder(openid) and not is_forgotten_openid(openid)


def tell(services: Services, resident: Resident, kind: str, text: str) -> None:
    """A push to someone on the Official Account, unless they cannot receive one."""
    if not can_push(resident):
        return
    queue_push(
        services.session,
        services.now,
        kind=kind,
        text=text,
        resident=resident,
        message_id=services.message_id,
    )


def who_for_elder(relation: str | None) -> str:
    """'您的家人(女儿)' or '您的一位家人'."""
    return f"您的家人({relation})" if relation else "您的一位家人"


def _whose(elder: Resident, actor: str) -> str:
    return "您" if actor == "本人" else (elder.name or "这位居民")

"""Family codes: one-time codes given to a relative, who sends one back to follow an elder."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from handlers.context import Reply, Services
from handlers.language.normalize import simplify
from handlers.people.followers import (
    FOLLOW_AUDIT,
    MAX_FOLLOWERS,
    audit,
    follower_count,
    followers_of,
    saved_id,
    tell,
    who_for_elder,
)
from handlers.people.invites import CODE_ALPHABET, CODE_LENGTH
from storage.codes import hash_code
from storage.models import FamilyCode, FamilyFollower, Resident
from storage.repositories import families, residents

CODE_HOURS = 24
# "关注 K7M2Q9PX", "家属码 K7M2Q9PX", "绑定 K7M2Q9PX" or the bare code.
CODE_MESSAGE = re.compile(rf"^(?P<prefix>关注|家属码|家属|绑定)?\s*(?P<code>[A-Za-z2-9]{{{CODE_LENGTH}}})$")
FAMILY_PREFIXES = ("关注", "家属码", "家属")
INVALID_CODE = "家属码无效、已使用或已过期。请向网格员索取新的家属码(24小时内有效,只能用一次)。"
# A temporary QR code (`run.py wechat family-qr`) carries the code as its scene: scanning it binds.
SCENE_PREFIX = "family:"


class FollowerError(ValueError):
    """A family code cannot be issued as asked; the message says why."""


def family_code_in(text: str) -> tuple[str, bool] | None:
    """(code, said as a family code) for "关注 K7M2Q9PX" or a bare code; None for anything else."""
    match = CODE_MESSAGE.match(simplify(text).strip())
    if match is None:
        return None
    return match.group("code").upper(), match.group("prefix") in FAMILY_PREFIXES


def family_scene(code: str) -> str:
    """The QR code scene that carries a family code."""
    return f"{SCENE_PREFIX}{code}"


def family_code_in_scene(scene: str | None) -> str | None:
    """The family code a scanned QR code carries, or None for any other scene."""
    if scene and scene.startswith(SCENE_PREFIX):
        return scene.removeprefix(SCENE_PREFIX).upper() or None
    return None


def is_family_code(session: Session, text: str) -> bool:
    """Said as a family code, or a code ("绑定 <code>", bare) that some family code once was."""
    found = family_code_in(text)
    if found is None:
        return False
    code, said_as_family = found
    return said_as_family or families.code_known(session, hash_code(code))


def issue_family_code(
    session: Session,
    now: datetime,
    elder: Resident,
    issued_by: str,
    hours: int = CODE_HOURS,
    relation: str | None = None,
) -> str:
    """A fresh one-time code for a family member of this elder; only its hash is stored."""
    if follower_count(session, elder) >= MAX_FOLLOWERS:
        raise FollowerError(
            f"{elder.name or '这位居民'}已有{MAX_FOLLOWERS}位家属关注(最多{MAX_FOLLOWERS}位),请先解除一位。"
        )
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if not families.code_known(session, hash_code(code)):
            break
    session.add(
        FamilyCode(
            code_hash=hash_code(code),
            elder_id=elder.id,
            issued_by=issued_by[:80],
            relation=relation[:20] if relation else None,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    session.flush()
    return code


def code_instructions(
    elder: Resident, code: str, hours: int = CODE_HOURS, relation: str | None = None
) -> str:
    """What the worker passes on to the family member."""
    for_whom = f"(给{relation})" if relation else ""
    return (
        f"{elder.name or '这位居民'}的家属码:{code}{for_whom},{hours}小时内有效,只能用一次。\n"
        f"请告诉家属:关注本公众号后发送“关注 {code}”。"
    )


def redeem_family_code(services: Services, follower: Resident, code: str) -> Reply:
    """Bind the sender to the code's elder, once and before it expires, if the elder has room."""
    session = services.session
    issued = families.code_by_hash(session, hash_code(code))
    if issued is None or issued.used_at is not None or issued.expires_at <= services.now:
        return Reply(INVALID_CODE)
    # Locks the elder's row on PostgreSQL, so two codes sent at once cannot make a fifth follower.
    elder = residents.locked_by_id(session, issued.elder_id)
    name = elder.name or "您的家人"
    if elder.id == follower.id:
        return Reply("这是给您家人用的家属码,请转交给家人,由他们发送。")
    if follower in followers_of(session, elder):
        return Reply(f"您已经在关注{name}的平安问候了,无需重复绑定。")
    if follower_count(session, elder) >= MAX_FOLLOWERS:
        return Reply(
            f"{name}已有{MAX_FOLLOWERS}位家属关注,最多{MAX_FOLLOWERS}位。请联系网格员,先解除一位再绑定。"
        )
    if not families.spend_code(session, issued.id, services.now):
        return Reply(INVALID_CODE)
    session.add(
        FamilyFollower(
            relation=issued.relation,
            elder_id=elder.id,
            follower_id=saved_id(session, follower),
            code_id=issued.id,
            created_at=services.now,
        )
    )
    audit(services, FOLLOW_AUDIT, issued.issued_by, elder, follower)
    tell(
        services,
        elder,
        "family_followed",
        f"【家属关注】{who_for_elder(issued.relation)}已用家属码关注您的平安问候:您没按时报平安时,"
        "家人会收到提醒。回复“我的家属”可查看或解除。",
    )
    return Reply(
        f"绑定成功!您已关注家人{name}的平安问候。老人没按时报平安时,您会在这里收到提醒、上门查看的结果和报平安的消息;"
        "收到提醒后回复“我来联系”,网格员就知道由您来联系老人。回复“取消关注家人”可随时解除。"
    )

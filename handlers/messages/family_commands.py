"""What families, elders and workers write about family followers, read into calls and answered in words."""

from __future__ import annotations

import re

from handlers.context import Reply, Services
from handlers.language.normalize import simplify
from handlers.people.family_codes import FollowerError, code_instructions, issue_family_code
from handlers.people.followers import (
    ELDER_LIST,
    ELDER_REMOVE,
    UNFOLLOW,
    followers_for_worker,
    is_take_call,
    list_followers,
    remove_follower,
    take_the_call,
    unfollow,
)
from handlers.people.households import one_household
from handlers.tickets.core import worker_title
from storage.models import Resident, Worker

# A worker's commands: a code for an elder's relative, or unbinding one of them.
FAMILY_CODE = re.compile(r"^家属码\s*(?P<target>\S*)\s*(?P<relation>.*)$")
FAMILY_REMOVE = re.compile(r"^解除家属\s*(?P<target>\S*)\s*(?P<number>\d+)?$")
EXAMPLE = "3号楼2单元301"


def is_family_message(text: str) -> bool:
    """取消关注家人, 我的家属, 解除家属 N or 我来联系, from a resident or a family member."""
    plain = simplify(text).strip()
    return bool(
        UNFOLLOW.match(plain) or plain in ELDER_LIST or ELDER_REMOVE.match(plain) or is_take_call(plain)
    )


def handle_family_message(services: Services, resident: Resident, text: str) -> Reply | None:
    """A family member's or an elder's own command; None for 我来联系 from someone following nobody."""
    plain = simplify(text).strip()
    unfollowing = UNFOLLOW.match(plain)
    if unfollowing is not None:
        return unfollow(services, resident, unfollowing.group("name").strip())
    if plain in ELDER_LIST:
        return list_followers(services, resident)
    removing = ELDER_REMOVE.match(plain)
    if removing is not None:
        number = removing.group("number")
        return remove_follower(services, resident, int(number) if number else None, "本人")
    return take_the_call(services, resident)


def family_command(services: Services, worker: Worker, text: str) -> Reply | None:
    """家属码 <居民> or 解除家属 <居民> [N] from a worker; None for any other text."""
    issuing = FAMILY_CODE.match(text)
    removing = FAMILY_REMOVE.match(text) if issuing is None else None
    if issuing is None and removing is None:
        return None
    verb = "家属码" if issuing is not None else "解除家属"
    target = (issuing or removing).group("target").strip()  # type: ignore[union-attr]
    if not target:
        return Reply(f"请写上老人的住址或姓名,例如“{verb} {EXAMPLE}”。")
    elder = one_household(services.session, worker, target, f"{verb} {EXAMPLE}")
    if isinstance(elder, str):
        return Reply(elder)
    if issuing is not None:
        return _issue(services, worker, elder, issuing.group("relation").strip() or None)
    assert removing is not None
    number = removing.group("number")
    if number is None and len(followers_for_worker(services, elder).split("、")) > 1:
        listed = followers_for_worker(services, elder)
        return Reply(f"{elder.name or '这位居民'}的家属关注:{listed}。请写上序号,例如“解除家属 {target} 1”。")
    return remove_follower(services, elder, int(number) if number else None, worker_title(worker))


def _issue(services: Services, worker: Worker, elder: Resident, relation: str | None) -> Reply:
    """A code for the elder's relative (named by their relation, if the worker gave it)."""
    session, now = services.session, services.now
    try:
        code = issue_family_code(session, now, elder, worker_title(worker), relation=relation)
    except FollowerError as exc:
        return Reply(str(exc))
    return Reply(code_instructions(elder, code, relation=relation))

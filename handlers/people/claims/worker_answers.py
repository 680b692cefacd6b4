"""The worker's answers to a claim: 确认绑定 N, 拒绝绑定 N, and 绑定码 <address> for a code to hand over."""

from __future__ import annotations

import secrets
from datetime import timedelta

from handlers.context import Reply, Services
from handlers.language.privacy import mask_name
from handlers.people.claims.codes import CODE_DIGITS
from handlers.people.claims.proof import OPEN, locked_entry, prove, push_to_resident, still_there
from handlers.register.entries import register_entry_at
from handlers.tickets.core import worker_title
from storage.models import BindingClaim, Grid, Resident, Worker
from storage.repositories import households


def confirm_claim(services: Services, worker: Worker, number: int) -> Reply:
    """确认绑定 N: the worker vouches for the claimant, who takes over the entry."""
    claim, entry, refusal = _claim_for_worker(services, worker, number)
    if refusal is not None:
        return refusal
    assert claim is not None and entry is not None
    claimant = services.session.get_one(Resident, claim.claimant_id)
    where, masked = entry.address, mask_name(entry.name)
    prove(services, claim, claimant, entry, worker_title(worker))
    push_to_resident(
        services,
        claimant,
        f"{worker_title(worker)}已核实您的身份,您的微信已和社区台账中{where}的登记信息关联。",
    )
    return Reply(f"已确认绑定 #{number}:{where}(登记人 {masked})的台账信息已关联到这位居民的微信。")


def refuse_claim(services: Services, worker: Worker, number: int) -> Reply:
    """拒绝绑定 N: the claimant keeps the building and room, never the entry."""
    claim, entry, refusal = _claim_for_worker(services, worker, number)
    if refusal is not None:
        return refusal
    assert claim is not None and entry is not None
    claim.status, claim.settled_at, claim.settled_by = "refused", services.now, worker_title(worker)
    claimant = services.session.get_one(Resident, claim.claimant_id)
    push_to_resident(
        services,
        claimant,
        "网格员没有确认您和台账登记的关系。您的住址登记仍然有效,留言和报修照常处理;如有疑问,请联系网格员。",
    )
    return Reply(f"已拒绝绑定 #{number}。这位居民仍登记在{entry.address},但看不到台账信息。")


def _claim_for_worker(
    services: Services, worker: Worker, number: int
) -> tuple[BindingClaim | None, Resident | None, Reply | None]:
    """The open claim numbered so, its entry, or the reply saying why the worker cannot settle it."""
    claim = services.session.get(BindingClaim, number)
    if claim is None or claim.claimant_id is None:
        return None, None, Reply(f"没有找到绑定申请 #{number},请核对编号。")
    entry = locked_entry(services.session, claim)
    if entry is None:
        return None, None, Reply(f"绑定申请 #{number} 已失效(台账登记已有人绑定)。")
    if not may_vouch(worker, entry.building.grid if entry.building else None, claim):
        return None, None, Reply(f"绑定申请 #{number} 不属于您负责的网格,无法操作。")
    if claim.status == "proven":
        return None, None, Reply(f"绑定申请 #{number} 已经确认过了。")
    claimant = services.session.get_one(Resident, claim.claimant_id)
    if claim.status not in OPEN or not still_there(claimant, entry):
        claim.status = "void"
        return None, None, Reply(f"绑定申请 #{number} 已失效(居民已改登记别的住址,或台账登记已有人绑定)。")
    return claim, entry, None


def may_vouch(worker: Worker, grid: Grid | None, claim: BindingClaim | None = None) -> bool:
    """The grid's worker and leader, whoever was asked (an AB岗 backup), and the offices."""
    if worker.role in ("community", "street"):
        return True
    if claim is not None and claim.worker_id == worker.id:
        return True
    return grid is not None and worker.id in (grid.worker_id, grid.leader_id)


def issue_code(services: Services, worker: Worker, building: str, unit: str | None, room: str) -> Reply:
    """绑定码 <address>: a six-digit code for that flat's register entry, used once, for a limited time."""
    session = services.session
    place = households.building_named(session, building)
    entry = register_entry_at(session, place, unit, room) if place is not None else None
    if place is None or entry is None:
        return Reply("这个住址没有尚未绑定微信的台账登记(或有多条登记),请核对住址,或在网页台账中处理。")
    if not may_vouch(worker, place.grid):
        return Reply("这个住址不属于您负责的网格,无法生成绑定码。")
    hours = services.settings.binding.code_hours
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(
        BindingClaim(
            entry_id=entry.id,
            code=code,
            worker_id=worker.id,
            created_at=services.now,
            expires_at=services.now + timedelta(hours=hours),
        )
    )
    return Reply(
        f"{entry.address}(登记人 {mask_name(entry.name)})的绑定码:{code},{hours}小时内有效,只能用一次。\n"
        f"请当面或电话告诉本人或家属:关注公众号后发送“绑定 {entry.address} {code}”。"
    )

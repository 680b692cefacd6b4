"""Opening a claim: after a resident binds an address, adopt an entry that needs no proof, else claim it."""

from __future__ import annotations

import logging

from handlers.context import Services
from handlers.language.privacy import mask_name
from handlers.people.claims.codes import check_code
from handlers.people.claims.proof import ADOPTED, OPEN, push_to_worker
from handlers.register.entries import (
    adopt_register_entry,
    needs_proof,
    register_entry_for,
    residents_on_entries,
)
from handlers.tickets.core import assign
from storage.models import BindingClaim, Resident
from storage.repositories import claims

log = logging.getLogger(__name__)
PENDING = (
    "这个住址在社区台账里已有登记。为保护住户的个人信息,需要网格员核实您的身份后才能关联,"
    "我们已通知网格员,核实后会告诉您。如果网格员给了您6位绑定码,直接回复绑定码即可。"
    "在此之前,您的留言和报修照常由网格员处理。"
)


def settle_register_entry(services: Services, resident: Resident, code: str | None = None) -> list[str]:
    """After a resident binds an address: adopt an entry that needs no proof, else claim it (or prove it).

    Returns the lines for the resident's reply; none when no single register entry lives there.
    """
    session = services.session
    session.flush()
    entry = register_entry_for(session, resident)
    _drop_claims_elsewhere(services, resident, entry)
    if entry is None:
        return []
    if not needs_proof(entry):
        adopt_register_entry(session, resident, entry)
        return [ADOPTED]
    if code is None:
        open_claim(services, resident, entry)
        return [PENDING]
    # With a code in the same message the worker hears of the claim only if the code is wrong.
    claim = open_claim(services, resident, entry, tell=False)
    reply = check_code(services, resident, code).text or ""
    if claim.status != "proven" and claim.worker_id is None:
        _tell_about_claim(services, claim, entry)
    return [reply]


def open_claim(services: Services, resident: Resident, entry: Resident, tell: bool = True) -> BindingClaim:
    """The resident's open claim to the entry, made (and the worker told) the first time only."""
    session = services.session
    claim = claims.claim_to(session, resident.id, entry.id, OPEN)
    if claim is not None:
        return claim
    claim = BindingClaim(entry_id=entry.id, claimant_id=resident.id, created_at=services.now)
    session.add(claim)
    session.flush()
    log.info("binding claim #%s opened for register entry %s", claim.id, entry.id)
    if tell:
        _tell_about_claim(services, claim, entry)
    return claim


def _tell_about_claim(services: Services, claim: BindingClaim, entry: Resident) -> None:
    """Push the claim to whoever is on duty for the entry's grid, who may then settle it."""
    told = assign(services, entry.building.grid if entry.building else None).worker
    if told is not None:
        claim.worker_id = told.id
        push_to_worker(services, told, "binding_claim", _claim_push(claim, entry))


def claim_entries_after_import(services: Services) -> list[BindingClaim]:
    """Residents who bound by address before the register listed their flat now claim its entry."""
    opened = []
    for resident in residents_on_entries(services.session):
        entry = register_entry_for(services.session, resident)
        if entry is not None and needs_proof(entry):
            opened.append(open_claim(services, resident, entry))
    return opened


def _claim_push(claim: BindingClaim, entry: Resident) -> str:
    """What the worker reads: where, whose entry (masked), and the one-line answers."""
    return (
        f"【居民申请绑定】{entry.address}(登记人 {mask_name(entry.name)})\n"
        "有居民在微信上绑定了这个住址。请电话或上门核实是本人或家属后,"
        f"确认请回复:确认绑定 {claim.id};不是请回复:拒绝绑定 {claim.id}。"
        f"也可回复“绑定码 {entry.address}”取得绑定码,当面交给本人。\n"
        "核实前,这位居民的留言照常派给您,但看不到台账信息,也不代替老人报平安。"
    )


def _drop_claims_elsewhere(services: Services, resident: Resident, entry: Resident | None) -> None:
    """A resident who binds another address gives up their claims to other flats' entries.

    A locked claim stays locked: moving away and back must not buy more guesses.
    """
    if resident.id is None:
        return
    keep = entry.id if entry is not None else None
    claims.void_claims_elsewhere(
        services.session, resident.id, ("pending", "refused"), keep, services.now, settled_by="居民改登记住址"
    )

"""Identity before an elder's record: an address alone never takes over a register entry.

Someone who binds the address of a register entry with personal details (see handlers.register.entries.
needs_proof) is bound to the building and room at once, so their messages reach the right worker, and
makes a claim. The entry (name, phone, check-in, family) becomes theirs only when the worker confirms
("确认绑定 N", from the push the claim sends) or they send a six-digit code the worker got with
"绑定码 <address>". Wrong codes are counted per claim and per code, so codes cannot be guessed.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handlers.context import Reply, Services
from handlers.language.privacy import mask_name
from handlers.register.entries import (
    adopt_register_entry,
    is_placeholder,
    needs_proof,
    register_entry_at,
    register_entry_for,
    residents_on_entries,
)
from handlers.tickets import assign, queue_push, worker_title
from storage.models import BindingClaim, Building, Grid, Resident, Worker

log = logging.getLogger(__name__)

CODE_DIGITS = 6
# What a resident sends: "483920", "绑定码 483920", "验证码:483920" (normalized: no spaces or punctuation).
CODE_MESSAGE = re.compile(rf"^(?P<prefix>绑定码?|验证码)?(?P<code>[0-9]{{{CODE_DIGITS}}})$")
# Claims that still wait for the worker; refused ones may yet be proven by a code the worker gives.
OPEN = ("pending", "locked", "refused")

PENDING = (
    "这个住址在社区台账里已有登记。为保护住户的个人信息,需要网格员核实您的身份后才能关联,"
    "我们已通知网格员,核实后会告诉您。如果网格员给了您6位绑定码,直接回复绑定码即可。"
    "在此之前,您的留言和报修照常由网格员处理。"
)
ADOPTED = "已和社区台账中的登记信息关联。"
NO_CLAIM = "请先回复您的住址,例如“绑定 3号楼2单元301”,再发送网格员给您的6位绑定码。"
LOCKED = "绑定码错误次数太多,已暂停验证。请直接联系网格员{worker}核实身份。"


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
    query = select(BindingClaim).where(
        BindingClaim.claimant_id == resident.id,
        BindingClaim.entry_id == entry.id,
        BindingClaim.status.in_(OPEN),
    )
    claim = session.scalars(query.order_by(BindingClaim.id.desc())).first()
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
        _tell_worker(services, told, "binding_claim", _claim_push(claim, entry))


def claim_entries_after_import(services: Services) -> list[BindingClaim]:
    """Residents who bound by address before the register listed their flat now claim its entry."""
    claims = []
    for resident in residents_on_entries(services.session):
        entry = register_entry_for(services.session, resident)
        if entry is not None and needs_proof(entry):
            claims.append(open_claim(services, resident, entry))
    return claims


def _claim_push(claim: BindingClaim, entry: Resident) -> str:
    """What the worker reads: where, whose entry (masked), and the one-line answers."""
    return (
        f"【居民申请绑定】{entry.address}(登记人 {mask_name(entry.name)})\n"
        "有居民在微信上绑定了这个住址。请电话或上门核实是本人或家属后,"
        f"确认请回复:确认绑定 {claim.id};不是请回复:拒绝绑定 {claim.id}。"
        f"也可回复“绑定码 {entry.address}”取得绑定码,当面交给本人。\n"
        "核实前,这位居民的留言照常派给您,但看不到台账信息,也不代替老人报平安。"
    )


# The worker's answers


def confirm_claim(services: Services, worker: Worker, number: int) -> Reply:
    """确认绑定 N: the worker vouches for the claimant, who takes over the entry."""
    claim, entry, refusal = _claim_for_worker(services, worker, number)
    if refusal is not None:
        return refusal
    assert claim is not None and entry is not None
    claimant = services.session.get_one(Resident, claim.claimant_id)
    where, masked = entry.address, mask_name(entry.name)
    _prove(services, claim, claimant, entry, worker_title(worker))
    _tell_resident(
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
    _tell_resident(
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
    entry = _locked_entry(services.session, claim)
    if entry is None:
        return None, None, Reply(f"绑定申请 #{number} 已失效(台账登记已有人绑定)。")
    if not may_vouch(worker, entry.building.grid if entry.building else None, claim):
        return None, None, Reply(f"绑定申请 #{number} 不属于您负责的网格,无法操作。")
    if claim.status == "proven":
        return None, None, Reply(f"绑定申请 #{number} 已经确认过了。")
    claimant = services.session.get_one(Resident, claim.claimant_id)
    if claim.status not in OPEN or not _still_there(claimant, entry):
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
    place = session.scalar(select(Building).where(Building.name == building))
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


# The resident's code


def code_in(normalized: str) -> tuple[str, bool] | None:
    """(code, said as a code) for "483920" or "绑定码 483920"; None for anything else."""
    match = CODE_MESSAGE.match(normalized)
    return (match.group("code"), match.group("prefix") is not None) if match else None


def has_open_claim(session: Session, resident: Resident) -> bool:
    """True while the resident waits for proof of a claim: a bare six digits is then their code."""
    return _open_claim_of(session, resident) is not None


def check_code(services: Services, resident: Resident, code: str) -> Reply:
    """A code for the resident's claim: right, the entry is theirs; wrong, one try fewer."""
    session = services.session
    claim = _open_claim_of(session, resident)
    if claim is None:
        return Reply(NO_CLAIM)
    entry = _locked_entry(session, claim)
    if entry is None or not _still_there(resident, entry):
        return Reply(NO_CLAIM)
    if claim.status == "locked":
        return Reply(LOCKED.format(worker=_worker_name(services, claim)))
    issued = _spend_code(services, entry, code)
    if issued is not None:
        _prove(services, claim, resident, entry, f"绑定码(由{_issuer(session, issued)}发放)")
        return Reply(f"绑定码正确。{ADOPTED}")
    return _wrong_code(services, claim, entry)


def _open_claim_of(session: Session, resident: Resident) -> BindingClaim | None:
    """The resident's newest open claim to an entry at the flat they are bound to now."""
    if resident.id is None:
        return None
    query = select(BindingClaim).where(BindingClaim.claimant_id == resident.id, BindingClaim.status.in_(OPEN))
    for claim in session.scalars(query.order_by(BindingClaim.id.desc())):
        if _still_there(resident, session.get_one(Resident, claim.entry_id)):
            return claim
    return None


def _locked_entry(session: Session, claim: BindingClaim) -> Resident | None:
    """The claimed entry, its row locked: two proofs of one entry at once take turns, one finds it gone."""
    return session.get(Resident, claim.entry_id, with_for_update=True)


def _spend_code(services: Services, entry: Resident, code: str) -> BindingClaim | None:
    """The unexpired, unused code for this entry, marked used; None when the code is not one."""
    query = select(BindingClaim).where(
        BindingClaim.entry_id == entry.id,
        BindingClaim.claimant_id.is_(None),
        BindingClaim.status == "pending",
        BindingClaim.code == code,
        BindingClaim.expires_at > services.now,
    )
    issued = services.session.scalars(query).first()
    if issued is None:
        return None
    # Conditional, so two people sending one code at once cannot both use it.
    spent = services.session.execute(
        update(BindingClaim)
        .where(BindingClaim.id == issued.id, BindingClaim.status == "pending")
        .values(status="proven", settled_at=services.now)
        .execution_options(synchronize_session="fetch")
    )
    return issued if spent.rowcount == 1 else None


def _wrong_code(services: Services, claim: BindingClaim, entry: Resident) -> Reply:
    """Count the wrong code against the claim and against every live code of the entry."""
    limit = services.settings.binding.max_wrong_codes
    claim.wrong_codes += 1
    live_codes = update(BindingClaim).where(
        BindingClaim.entry_id == entry.id,
        BindingClaim.claimant_id.is_(None),
        BindingClaim.status == "pending",
    )
    services.session.execute(
        live_codes.values(wrong_codes=BindingClaim.wrong_codes + 1).execution_options(
            synchronize_session=False
        )
    )
    services.session.execute(
        live_codes.where(BindingClaim.wrong_codes >= limit)
        .values(status="void", settled_at=services.now, settled_by="猜错次数过多")
        .execution_options(synchronize_session=False)
    )
    log.warning("wrong binding code for claim #%s (%s of %s)", claim.id, claim.wrong_codes, limit)
    if claim.wrong_codes < limit:
        left = limit - claim.wrong_codes
        return Reply(f"绑定码不对或已过期,请核对后再发一次(还可以试{left}次)。也可以请网格员直接确认。")
    claim.status = "locked"
    worker = _claim_worker(services, claim)
    if worker is not None:
        _tell_worker(
            services,
            worker,
            "binding_locked",
            f"【绑定码错误次数过多】{entry.address}(登记人 {mask_name(entry.name)})的绑定申请 #{claim.id}"
            f"连续{limit}次绑定码错误,已暂停验证,此前发放的绑定码已作废。"
            f"核实是本人后可回复“确认绑定 {claim.id}”;不是请回复“拒绝绑定 {claim.id}”。",
        )
    return Reply(LOCKED.format(worker=_worker_name(services, claim)))


def _claim_worker(services: Services, claim: BindingClaim) -> Worker | None:
    """Who hears about the claim: whoever was asked, if still serving, else whoever is on duty there."""
    worker = services.session.get(Worker, claim.worker_id) if claim.worker_id else None
    if worker is not None and worker.left_at is None:
        return worker
    entry = services.session.get_one(Resident, claim.entry_id)
    return assign(services, entry.building.grid if entry.building else None).worker


def _worker_name(services: Services, claim: BindingClaim) -> str:
    worker = _claim_worker(services, claim)
    if worker is None:
        return f"或社区({services.settings.duty_phone})"
    return f"{worker.name}" + (f"(电话 {worker.phone})" if worker.phone else "")


def _issuer(session: Session, issued: BindingClaim) -> str:
    worker = session.get(Worker, issued.worker_id) if issued.worker_id else None
    return worker_title(worker) if worker is not None else "工作人员"


# Proof


def _prove(services: Services, claim: BindingClaim, claimant: Resident, entry: Resident, by: str) -> None:
    """The claimant takes over the entry; every other claim on it, and its codes, are spent."""
    services.session.execute(
        update(BindingClaim)
        .where(
            BindingClaim.entry_id == entry.id,
            BindingClaim.id != claim.id,
            BindingClaim.status.in_(OPEN),
        )
        .values(status="void", settled_at=services.now, settled_by=f"已由{by}确认给他人")
        .execution_options(synchronize_session="fetch")
    )
    claim.status, claim.settled_at, claim.settled_by = "proven", services.now, by
    adopt_register_entry(services.session, claimant, entry)
    log.info("binding claim #%s proven by %s", claim.id, by)


def _still_there(claimant: Resident, entry: Resident) -> bool:
    """The claimant is still bound to the entry's flat, and nobody has taken the entry over."""
    return (
        is_placeholder(entry.openid)
        and claimant.building_id == entry.building_id
        and claimant.unit == entry.unit
        and claimant.room == entry.room
    )


def _drop_claims_elsewhere(services: Services, resident: Resident, entry: Resident | None) -> None:
    """A resident who binds another address gives up their claims to other flats' entries.

    A locked claim stays locked: moving away and back must not buy more guesses.
    """
    if resident.id is None:
        return
    query = (
        update(BindingClaim)
        .where(BindingClaim.claimant_id == resident.id, BindingClaim.status.in_(("pending", "refused")))
        .values(status="void", settled_at=services.now, settled_by="居民改登记住址")
        .execution_options(synchronize_session="fetch")
    )
    if entry is not None:
        query = query.where(BindingClaim.entry_id != entry.id)
    services.session.execute(query)


def _tell_worker(services: Services, worker: Worker, kind: str, text: str) -> None:
    queue_push(
        services.session, services.now, worker=worker, kind=kind, text=text, message_id=services.message_id
    )


def _tell_resident(services: Services, resident: Resident, text: str) -> None:
    queue_push(
        services.session,
        services.now,
        resident=resident,
        kind="binding",
        text=text,
        message_id=services.message_id,
    )

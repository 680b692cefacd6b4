"""The resident's six-digit code: right, the entry is theirs; wrong, counted per claim and per code."""

from __future__ import annotations

import logging
import re

from sqlalchemy.orm import Session

from handlers.context import Reply, Services
from handlers.language.privacy import mask_name
from handlers.people.claims.proof import ADOPTED, OPEN, locked_entry, prove, push_to_worker, still_there
from handlers.tickets.core import assign, worker_title
from storage.models import BindingClaim, Resident, Worker
from storage.repositories import claims

log = logging.getLogger(__name__)
CODE_DIGITS = 6
# What a resident sends: "483920", "绑定码 483920", "验证码:483920" (normalized: no spaces or punctuation).
CODE_MESSAGE = re.compile(rf"^(?P<prefix>绑定码?|验证码)?(?P<code>[0-9]{{{CODE_DIGITS}}})$")
NO_CLAIM = "请先回复您的住址,例如“绑定 3号楼2单元301”,再发送网格员给您的6位绑定码。"
LOCKED = "绑定码错误次数太多,已暂停验证。请直接联系网格员{worker}核实身份。"


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
    entry = locked_entry(session, claim)
    if entry is None or not still_there(resident, entry):
        return Reply(NO_CLAIM)
    if claim.status == "locked":
        return Reply(LOCKED.format(worker=_worker_name(services, claim)))
    issued = _spend_code(services, entry, code)
    if issued is not None:
        prove(services, claim, resident, entry, f"绑定码(由{_issuer(session, issued)}发放)")
        return Reply(f"绑定码正确。{ADOPTED}")
    return _wrong_code(services, claim, entry)


def _open_claim_of(session: Session, resident: Resident) -> BindingClaim | None:
    """The resident's newest open claim to an entry at the flat they are bound to now."""
    if resident.id is None:
        return None
    for claim in claims.claims_of(session, resident.id, OPEN):
        if still_there(resident, session.get_one(Resident, claim.entry_id)):
            return claim
    return None


def _spend_code(services: Services, entry: Resident, code: str) -> BindingClaim | None:
    """The unexpired, unused code for this entry, marked used; None when the code is not one."""
    issued = claims.live_code(services.session, entry.id, code, services.now)
    if issued is None:
        return None
    return issued if claims.spend_code(services.session, issued.id, services.now) else None


def _wrong_code(services: Services, claim: BindingClaim, entry: Resident) -> Reply:
    """Count the wrong code against the claim and against every live code of the entry."""
    limit = services.settings.binding.max_wrong_codes
    claim.wrong_codes += 1
    claims.count_wrong_code(services.session, entry.id, limit, services.now, settled_by="猜错次数过多")
    log.warning("wrong binding code for claim #%s (%s of %s)", claim.id, claim.wrong_codes, limit)
    if claim.wrong_codes < limit:
        left = limit - claim.wrong_codes
        return Reply(f"绑定码不对或已过期,请核对后再发一次(还可以试{left}次)。也可以请网格员直接确认。")
    claim.status = "locked"
    worker = _claim_worker(services, claim)
    if worker is not None:
        push_to_worker(
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

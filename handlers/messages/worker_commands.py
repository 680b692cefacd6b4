"""What grid workers, leaders and offices write on WeChat, read into typed calls and answered in words."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from handlers.context import Reply, Services
from handlers.jobs.visits import record_visit
from handlers.language.normalize import normalize, simplify
from handlers.messages.binding import parse_address
from handlers.messages.duty import my_tickets, off_duty, on_duty
from handlers.messages.family_commands import FAMILY_CODE, FAMILY_REMOVE, family_command
from handlers.messages.ticket_replies import wechat_reply
from handlers.people.claims import confirm_claim, issue_code, refuse_claim
from handlers.people.invites import find_worker
from handlers.texts import BIND_EXAMPLE
from handlers.tickets.actions import acknowledge, extend, hours_from, progress, reassign, resolve, send_back
from handlers.tickets.outcome import Outcome
from handlers.tickets.recategorise import category_of, recategorise
from storage.models import Worker

COMMAND = re.compile(
    r"^(?P<verb>签收|接单|进度|办结|退单|转派|延期|改类|我的工单|上班|下班|帮助)\s*#?(?P<number>\d+)?\s*(?P<rest>.*)$",
    re.DOTALL,
)
VISIT = re.compile(r"^走访\s*(?P<target>\S*)\s*(?P<note>.*)$", re.DOTALL)
# Settling a resident's claim to a register entry, or getting a code for one (handlers/people/claims/).
CLAIM_ANSWER = re.compile(r"^(?P<verb>确认绑定|拒绝绑定)\s*#?(?P<number>\d+)?\s*$")
ISSUE_CODE = re.compile(r"^绑定码\s*(?P<address>.*)$")
WORKER_HELP = (
    "工单指令(编号即工单号):\n"
    "签收 12 —— 接下工单\n"
    "进度 12 已联系物业 —— 记录进展,居民会收到\n"
    "办结 12 已修好 —— 办结,系统请居民评价\n"
    "退单 12 原因 —— 退回网格长重新派单\n"
    "转派 12 姓名 —— 网格长、社区转给他人\n"
    "延期 12 24 原因 —— 办结期限延后24小时\n"
    "改类 12 紧急求助 —— 网格长、社区更正类别\n"
    "走访 3号楼2单元301 情况 —— 记录入户走访\n"
    "确认绑定 5 / 拒绝绑定 5 —— 核实居民的绑定申请\n"
    "绑定码 3号楼2单元301 —— 取得台账登记的绑定码\n"
    "家属码 3号楼2单元301 —— 给老人的家属一个关注码\n"
    "解除家属 3号楼2单元301 1 —— 解除老人的第1位家属\n"
    "我的工单 · 上班 · 下班"
)


@dataclass(frozen=True)
class Command:
    """A parsed worker command."""

    verb: str
    number: int | None
    rest: str


def parse_command(text: str) -> Command | None:
    """Read a command, tolerant of spaces, full-width digits and traditional characters."""
    match = COMMAND.match(simplify(text).strip())
    if match is None:
        return None
    number = match.group("number")
    verb = "签收" if match.group("verb") == "接单" else match.group("verb")
    return Command(verb, int(number) if number else None, " ".join(match.group("rest").split()))


def looks_like_worker_command(text: str) -> bool:
    """True for text a resident might send by mistake that only workers may use."""
    command = parse_command(text)
    if command is None:
        return CLAIM_ANSWER.match(simplify(text).strip()) is not None
    return command.verb not in ("我的工单", "帮助")


def is_worker_command(text: str) -> bool:
    """A command or a visit note, as a bound worker writes them (help and my-tickets included)."""
    plain = simplify(text).strip()
    return parse_command(text) is not None or any(
        pattern.match(plain) for pattern in (VISIT, CLAIM_ANSWER, ISSUE_CODE, FAMILY_CODE, FAMILY_REMOVE)
    )


def handle_worker_message(services: Services, worker: Worker, text: str) -> Reply:
    """Run one command from a bound worker; anything else gets the command list."""
    visit = VISIT.match(simplify(text).strip())
    if visit is not None:
        return record_visit(services, worker, visit.group("target"), visit.group("note").strip())
    binding = _binding_command(services, worker, simplify(text).strip())
    if binding is not None:
        return binding
    family = family_command(services, worker, simplify(text).strip())
    if family is not None:
        return family
    command = parse_command(text)
    if command is None or command.verb == "帮助":
        return Reply(WORKER_HELP)
    if command.verb in PLAIN_COMMANDS:
        return PLAIN_COMMANDS[command.verb](services, worker)
    if command.number is None:
        return Reply(f"请写上工单号,例如“{command.verb} 12”。")
    return act_on_ticket(services, worker, command.verb, command.number, command.rest)


def _binding_command(services: Services, worker: Worker, text: str) -> Reply | None:
    """确认绑定 N, 拒绝绑定 N, 绑定码 <address>; None for any other text."""
    answer = CLAIM_ANSWER.match(text)
    if answer is not None:
        verb, number = answer.group("verb"), answer.group("number")
        if number is None:
            return Reply(f"请写上绑定申请的编号,例如“{verb} 5”。")
        settle = confirm_claim if verb == "确认绑定" else refuse_claim
        return settle(services, worker, int(number))
    issue = ISSUE_CODE.match(text)
    if issue is None:
        return None
    address = parse_address(normalize(issue.group("address")))
    if address is None:
        return Reply(f"请写上住址,例如“绑定码 {BIND_EXAMPLE}”。")
    return issue_code(services, worker, address.building, address.unit, address.room)


def act_on_ticket(services: Services, worker: Worker, verb: str, number: int, rest: str) -> Reply:
    """Run one ticket command (签收, 进度, 办结 ...) and answer in WeChat's words."""
    outcome = TICKET_COMMANDS[verb](services, worker, number, rest)
    return wechat_reply(services, outcome, rest)


def _acknowledge(services: Services, worker: Worker, number: int, _: str) -> Outcome:
    return acknowledge(services, worker, number)


def _progress(services: Services, worker: Worker, number: int, note: str) -> Outcome:
    return progress(services, worker, number, note)


def _resolve(services: Services, worker: Worker, number: int, note: str) -> Outcome:
    return resolve(services, worker, number, note)


def _send_back(services: Services, worker: Worker, number: int, reason: str) -> Outcome:
    return send_back(services, worker, number, reason)


def _reassign(services: Services, worker: Worker, number: int, name: str) -> Outcome:
    return reassign(services, worker, number, find_worker(services.session, name) if name else None)


def _extend(services: Services, worker: Worker, number: int, rest: str) -> Outcome:
    """延期 N 24 原因: the hours first, then the reason."""
    hours, _, reason = rest.partition(" ")
    return extend(services, worker, number, hours_from(hours), reason)


def _recategorise(services: Services, worker: Worker, number: int, rest: str) -> Outcome:
    """改类 N 类别: the first word names the category."""
    return recategorise(services, worker, number, category_of(rest.split(" ")[0]) if rest else None)


PLAIN_COMMANDS: dict[str, Callable[[Services, Worker], Reply]] = {
    "我的工单": my_tickets,
    "上班": on_duty,
    "下班": off_duty,
}
TICKET_COMMANDS: dict[str, Callable[[Services, Worker, int, str], Outcome]] = {
    "签收": _acknowledge,
    "进度": _progress,
    "办结": _resolve,
    "退单": _send_back,
    "转派": _reassign,
    "延期": _extend,
    "改类": _recategorise,
}

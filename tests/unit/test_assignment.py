"""Who gets a ticket: worker, AB岗 backup, grid leader, community duty desk, or the open queue."""

from __future__ import annotations

from handlers.tickets.core import choose_assignee
from storage.models import Grid, Worker


def community() -> tuple[Worker, Worker, Worker, Grid]:
    worker = Worker(name="王芳", role="worker", on_duty=True)
    backup = Worker(name="李骁", role="worker", on_duty=True)
    leader = Worker(name="赵建国", role="leader", on_duty=True)
    worker.backup = backup
    return worker, backup, leader, Grid(code="G1", name="第一网格", worker=worker, leader=leader)


def test_the_grid_worker_on_duty_gets_it() -> None:
    worker, _, _, grid = community()
    assert (choose_assignee([], grid).worker, choose_assignee([], grid).reason) == (worker, "grid_worker")


def test_off_duty_worker_passes_to_the_backup_then_the_leader() -> None:
    worker, backup, leader, grid = community()
    worker.on_duty = False
    assert choose_assignee([], grid).worker is backup
    backup.on_duty = False
    assert (choose_assignee([], grid).worker, choose_assignee([], grid).reason) == (leader, "leader")


def test_nobody_in_the_grid_falls_to_the_duty_desk() -> None:
    worker, backup, leader, grid = community()
    for person in (worker, backup, leader):
        person.on_duty = False
    desk = Worker(name="社区值班台", role="community", on_duty=True)
    assert choose_assignee([desk], grid).worker is desk


def test_with_nobody_at_all_on_duty_the_office_still_gets_it() -> None:
    worker, backup, leader, grid = community()
    desk = Worker(name="社区值班台", role="community", on_duty=False)
    street = Worker(name="街道办", role="street", on_duty=False)
    for person in (worker, backup, leader):
        person.on_duty = False

    def chosen(offices: list[Worker]) -> tuple[Worker | None, str]:
        assignment = choose_assignee(offices, grid)
        return assignment.worker, assignment.reason

    assert chosen([desk, street]) == (desk, "community")
    assert chosen([street]) == (street, "street"), "no community office: the street office"
    street.on_duty = True
    assert chosen([desk, street]) == (street, "street"), "someone on duty comes first"
    assert chosen([]) == (None, "unassigned")


def test_an_unbound_resident_goes_to_the_duty_desk() -> None:
    desk = Worker(name="社区值班台", role="community", on_duty=True)
    assert choose_assignee([desk], None).reason == "community"

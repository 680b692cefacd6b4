"""`run.py community load FILE`: staff looked up in the database too, unknown people refused with nothing
changed, every change printed, and `--dry-run` to see them first."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import transaction
from storage.models import Building, Grid, Worker

G1_BUILDINGS = 'buildings = ["1号楼", "2号楼", "3号楼"]\n'


def toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "community.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def holders(factory, code: str) -> tuple[str | None, str | None]:
    with transaction(factory) as session:
        grid = session.scalars(select(Grid).where(Grid.code == code)).one()
        return (grid.worker.name if grid.worker else None, grid.leader.name if grid.leader else None)


def layout(factory) -> tuple[int, int]:
    with transaction(factory) as session:
        return (
            session.scalar(select(func.count()).select_from(Grid)) or 0,
            session.scalar(select(func.count()).select_from(Building)) or 0,
        )


def test_community_load_dry_run_and_unknown_openids(office, factory, tmp_path, capsys) -> None:
    unknown = toml(
        tmp_path,
        '[[grids]]\ncode = "G4"\nname = "第四网格"\nworker = "demo-worker-nobody"\nbuildings = ["9号楼"]\n\n'
        f'[[grids]]\ncode = "G1"\nname = "第一网格"\nleader = "o-unknown-leader"\n{G1_BUILDINGS}',
    )
    assert office(["community", "load", unknown]) == 2
    assert capsys.readouterr().err == (
        f"cannot load {unknown}: unknown: demo-worker-nobody (worker of G4), "
        "o-unknown-leader (leader of G1); nothing was changed\n"
    )
    assert layout(factory) == (3, 8) and holders(factory, "G1") == ("王芳", "赵建国")

    # One grid, its worker named by a staff member already in the database; the leader left out.
    change = toml(
        tmp_path,
        '[[grids]]\ncode = "G1"\nname = "第一网格"\nworker = "李骁"\n'
        'buildings = ["1号楼", "2号楼", "3号楼", "9号楼"]\n',
    )
    assert office(["community", "load", change, "--dry-run"]) == 0
    expected = ["worker of G1: 王芳 -> 李骁", "building 9号楼 added to G1"]
    assert capsys.readouterr().out.splitlines() == [*expected, "dry run: nothing was written"]
    assert layout(factory) == (3, 8) and holders(factory, "G1") == ("王芳", "赵建国")

    assert office(["community", "load", change]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    assert layout(factory) == (3, 9) and holders(factory, "G1") == ("李骁", "赵建国")
    assert office(["community", "load", change]) == 0
    assert capsys.readouterr().out == "no changes\n"


def test_a_file_with_one_grid_leaves_its_staff_alone(office, factory, tmp_path, capsys) -> None:
    one_grid = toml(tmp_path, f'[[grids]]\ncode = "G1"\nname = "第一网格"\n{G1_BUILDINGS}')
    assert office(["community", "load", one_grid]) == 0
    assert capsys.readouterr().out == "no changes\n"
    assert holders(factory, "G1") == ("王芳", "赵建国")


def test_a_new_grid_with_new_staff_prints_each_step(office, factory, settings, tmp_path, capsys) -> None:
    new = toml(
        tmp_path,
        '[[workers]]\nopenid = "o-zhoumin"\nname = "周敏"\nphone = "13900000009"\n'
        'backup = "demo-worker-li"\n\n'
        '[[grids]]\ncode = "G4"\nname = "第四网格"\nworker = "o-zhoumin"\nleader = "赵建国"\n'
        'buildings = ["9号楼", "8号楼"]\n',
    )
    assert office(["community", "load", new]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "staff added: 周敏 (worker, o-zhoumin)",
        "backup of 周敏: nobody -> 李骁",
        "grid G4 created (第四网格)",
        "worker of G4: nobody -> 周敏",
        "leader of G4: nobody -> 赵建国",
        "building 9号楼 added to G4",
        "building 8号楼 moved: G3 -> G4",
    ]
    assert holders(factory, "G4") == ("周敏", "赵建国")
    with transaction(factory) as session:  # 王芳 said 下班: loading the demo again does not undo it
        session.scalars(select(Worker).where(Worker.name == "王芳")).one().on_duty = False
    assert office(["community", "load", str(settings.demo_path)]) == 0
    assert capsys.readouterr().out == "building 8号楼 moved: G4 -> G3\n"
    with transaction(factory) as session:
        assert session.scalars(select(Worker.on_duty).where(Worker.name == "王芳")).one() is False


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[[grids]]\ncode = "G4"\n', "[[grids]] number 1 needs name (text)"),
        ('[[workers]]\nname = "周敏"\n', "[[workers]] number 1 needs openid (text)"),
        ('workers = "周敏"\n', "workers must be written as [[workers]] tables"),
        (
            '[[residents]]\nopenid = "o-x"\nfamily = [{relation = "女儿"}]\n',
            "[[residents]] number 1: each family contact needs a name",
        ),
    ],
)
def test_a_malformed_community_file_is_one_plain_line(office, factory, tmp_path, capsys, text, says) -> None:
    path = toml(tmp_path, text)
    assert office(["community", "load", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cannot load {path}: {says}") and err.count("\n") == 1
    assert layout(factory) == (3, 8)

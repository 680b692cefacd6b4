"""Worker invite codes live only in the office's terminal: the database keeps a hash, and binding works."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from handlers.people.invites import create_invite
from storage.db import MIGRATIONS, transaction
from storage.models import Base, Grid, WorkerInvite
from tests.cli import code_in

# A code as `worker invite` printed it before the upgrade (0022 stored it as it is).
PRINTED_BEFORE = "K7M2Q9PX"


def cells_holding(factory, code: str) -> list[str]:
    """'table.column' of every stored value, in any table, that contains `code` in either case."""
    found = []
    with transaction(factory) as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)).mappings():
                found += [f"{table.name}.{name}" for name, value in row.items() if code in str(value).upper()]
    return found


def migrate(factory, revision: str, down: bool = False) -> None:
    """Move the test database's schema to `revision`, as an older or newer GridDesk would leave it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with factory.kw["bind"].begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_the_code_is_printed_once_never_stored_or_logged_and_still_binds(
    office, wechat, factory, capsys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    argv = ["worker", "invite", "--name", "周敏", "--grid", "G1", "--backup", "李骁", "--replace"]

    assert office(argv) == 0

    code = code_in(capsys.readouterr().out)
    assert cells_holding(factory, code) == [], "nothing in the database can be sent as the code"
    with transaction(factory) as session:
        [invite] = session.scalars(select(WorkerInvite))
        assert (invite.name, invite.role, invite.grid_codes, invite.used_at) == ("周敏", "worker", "G1", None)
        assert len(invite.code_hash) == 64 and code not in invite.code_hash.upper()
    # Typed in lower case, as people do on a phone.
    assert "绑定成功!网格员周敏,您好。您负责:第一网格。" in wechat.say("o-zhoumin", f"绑定 {code.lower()}")
    with transaction(factory) as session:
        assert session.scalars(select(Grid).where(Grid.code == "G1")).one().worker.name == "周敏"
    assert wechat.say("o-someone-else", f"绑定 {code}").startswith("绑定码无效、已使用或已过期"), "once only"
    assert code not in caplog.text.upper()


def test_an_invite_printed_before_the_upgrade_still_binds_after_it(wechat, factory, clock) -> None:
    migrate(factory, "0022", down=True)
    with factory.kw["bind"].begin() as connection:  # what `worker invite` stored before revision 0023
        connection.execute(
            text(
                "INSERT INTO worker_invites (code, name, role, phone, grid_codes, created_at, expires_at)"
                " VALUES (:code, '孙丽', 'community', NULL, '', :now, :expires)"
            ),
            {
                "code": PRINTED_BEFORE,
                "now": clock().replace(tzinfo=None),
                "expires": (clock() + timedelta(hours=24)).replace(tzinfo=None),
            },
        )

    migrate(factory, "head")

    assert cells_holding(factory, PRINTED_BEFORE) == []
    bound = wechat.say("o-sunli", f"绑定 {PRINTED_BEFORE.lower()}")
    assert "绑定成功!社区值班孙丽,您好。您负责:全社区。" in bound
    with transaction(factory) as session:
        assert session.scalars(select(WorkerInvite.used_at)).one() is not None


def test_downgrading_expires_the_unused_invites_whose_codes_it_cannot_recover(factory, clock) -> None:
    with transaction(factory) as session:
        code = create_invite(session, clock(), name="孙丽", role="community", hours=24 * 365 * 20).code

    migrate(factory, "0022", down=True)

    with factory.kw["bind"].begin() as connection:
        stored, expires = connection.execute(text("SELECT code, expires_at FROM worker_invites")).one()
    assert stored != code and len(stored) <= 16
    expires = expires if isinstance(expires, datetime) else datetime.fromisoformat(expires)
    assert expires <= datetime.now(UTC).replace(tzinfo=None), "an older GridDesk sees it expired"
    migrate(factory, "head")  # and back: the row stays expired, its placeholder hashed like any code
    with transaction(factory) as session:
        assert session.scalars(select(WorkerInvite.expires_at)).one() <= datetime.now(UTC)

"""The schema comes from migrations, the demo loads idempotently, and a failing handler loses nothing."""

from __future__ import annotations

import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from bot.app import create_app
from bot.bootstrap import prepare_database
from bot.inbound_record import InboundRecord
from bot.inbox import Later, QuickReply, receive, receive_later
from handlers.context import Incoming, Reply
from storage.db import make_engine, make_session_factory, one_writer, snapshot, transaction, upgrade
from storage.demo import load_community, seed_community
from storage.models import Base, Building, Grid, InboundMessage, OutboxMessage, Resident, Worker
from tests.conftest import ON_POSTGRESQL
from tests.support import WeChatServer


def test_migrations_build_exactly_the_models_schema(settings) -> None:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    upgrade(engine)  # a second start changes nothing
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert "alembic_version" in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.skipif(ON_POSTGRESQL, reason="WAL and PRAGMA are SQLite's; PostgreSQL always enforces keys")
def test_sqlite_runs_in_wal_mode_with_foreign_keys(settings, factory) -> None:
    with factory() as session:
        assert session.connection().exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert session.connection().exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_snapshot_reads_what_is_committed_while_a_writer_holds_the_write_lock(factory) -> None:
    """Sweeps read what is due this way: on SQLite a reader asking for the write lock would wait 10 s."""
    with transaction(factory) as writer:
        before = writer.scalar(select(func.count()).select_from(Worker))
        writer.execute(text("UPDATE workers SET on_duty = on_duty"))  # the write lock is taken and held
        writer.add(Worker(name="新来的", role="worker", on_duty=True))
        writer.flush()
        with snapshot(factory) as reader:
            assert reader.scalar(select(func.count()).select_from(Worker)) == before
    with snapshot(factory) as reader:
        assert reader.scalar(select(func.count()).select_from(Worker)) == before + 1


@pytest.mark.skipif(ON_POSTGRESQL, reason="PostgreSQL lets transactions write side by side")
def test_on_sqlite_a_processs_messages_take_turns_at_writing(factory, clock) -> None:
    """While one thread writes, a message arriving in another thread waits for it, then is stored."""
    writing, finish = threading.Event(), threading.Event()

    def long_write() -> None:
        with factory() as session, one_writer(session):
            writing.set()
            finish.wait(timeout=10)

    record = InboundRecord("msg:880001", "<xml/>", Incoming(openid="o-turns", msg_type="text"))
    replies: list[str | None] = []
    writer = threading.Thread(target=long_write)
    writer.start()
    assert writing.wait(timeout=5)
    second = threading.Thread(
        target=lambda: replies.append(receive(factory, record, lambda _s, _i: Reply("收到"), clock()))
    )
    second.start()
    second.join(timeout=0.5)
    assert second.is_alive() and replies == []
    finish.set()
    second.join(timeout=10)
    writer.join(timeout=10)
    assert replies == ["收到"]
    with transaction(factory) as session:
        stored = session.scalar(select(InboundMessage.reply).where(InboundMessage.openid == "o-turns"))
    assert stored == "收到"


@pytest.mark.skipif(ON_POSTGRESQL, reason="PostgreSQL lets transactions write side by side")
def test_on_sqlite_a_message_queued_under_a_burst_is_stored_before_the_messages_waiting_whole(
    factory, clock
) -> None:
    """A queued message is one insert: it takes the next turn, ahead of messages waiting to be handled."""
    writing, finish = threading.Event(), threading.Event()

    def long_write() -> None:
        with factory() as session, one_writer(session):
            writing.set()
            finish.wait(timeout=10)

    def record(n: int) -> InboundRecord:
        return InboundRecord(f"msg:88100{n}", "<xml/>", Incoming(openid=f"o-burst-{n}", msg_type="text"))

    def handle(_session, _incoming) -> Reply:
        return Reply("收到")

    later = Later(lambda _record: QuickReply("已收到"), lambda: None)
    writer = threading.Thread(target=long_write)
    writer.start()
    assert writing.wait(timeout=5)
    waiting = [threading.Thread(target=receive, args=(factory, record(n), handle, clock())) for n in (1, 2)]
    waiting.append(threading.Thread(target=receive_later, args=(factory, record(3), clock(), later)))
    for thread in waiting:
        thread.start()
        thread.join(timeout=0.3)
        assert thread.is_alive()  # waiting for its turn
    finish.set()
    for thread in [writer, *waiting]:
        thread.join(timeout=10)
    with transaction(factory) as session:
        order = session.scalars(
            select(InboundMessage.openid).where(InboundMessage.openid.like("o-burst-%")).order_by(InboundMessage.id)
        ).all()
    assert order[0] == "o-burst-3" and sorted(order) == ["o-burst-1", "o-burst-2", "o-burst-3"]


def test_loading_the_demo_twice_changes_nothing(settings, factory, clock) -> None:
    def counts() -> tuple[int, ...]:
        with transaction(factory) as session:
            return tuple(
                session.scalar(select(func.count()).select_from(m)) for m in (Worker, Building, Resident)
            )

    before = counts()
    with transaction(factory) as session:
        assert load_community(session, settings.demo_path, clock()) == []
    assert counts() == before == (5, 8, 3)
    with transaction(factory) as session:
        wang = session.scalar(select(Worker).where(Worker.openid == "demo-worker-wang"))
        assert wang.backup.name == "李骁"


def test_a_failing_handler_keeps_the_message_and_alerts_the_duty_desk(
    settings, factory, classifier, clock
) -> None:
    def broken(services, incoming: Incoming) -> Reply:
        raise RuntimeError("bug in a handler")

    app = create_app(settings, factory, classifier, clock, router=broken)
    wechat = WeChatServer(app.test_client(), settings.wechat, clock)
    reply = wechat.say("demo-resident-zhang", "家里水管漏了")
    assert "消息已经保存" in reply and "120" in reply
    with transaction(factory) as session:
        message = session.scalar(select(InboundMessage))
        assert (message.status, message.content) == ("failed", "家里水管漏了")
        alert = session.scalar(select(OutboxMessage))
        assert alert.recipient == "demo-community-duty" and str(message.id) in alert.text


@pytest.mark.skipif(not ON_POSTGRESQL, reason="deadlocks need row locks: PostgreSQL's")
def test_a_message_whose_transaction_loses_a_deadlock_is_handled_again_not_failed(factory, clock) -> None:
    """PostgreSQL ends a deadlock by failing one of the two transactions; if it is a message's, the
    message is handled again from the start instead of getting the apology."""
    with transaction(factory) as session:
        first, second = session.scalars(select(Resident.id).order_by(Resident.id).limit(2)).all()
    touch = "UPDATE residents SET last_message_at = last_message_at WHERE id = :id"
    handler_holds_first = threading.Event()
    attempts: list[int] = []

    def handle(session, incoming: Incoming) -> Reply:
        attempts.append(incoming.message_id)
        if len(attempts) == 1:
            session.execute(text(touch), {"id": first})
            handler_holds_first.set()
            session.execute(text(touch), {"id": second})  # held by the other side: waits, then loses
        return Reply("收到")

    def other_side() -> None:
        with transaction(factory) as session:
            session.execute(text(touch), {"id": second})
            assert handler_holds_first.wait(timeout=10)
            # Close the cycle only once the handler waits, so it is the one PostgreSQL picks to fail.
            while not session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                time.sleep(0.01)
            session.execute(text(touch), {"id": first})

    other = threading.Thread(target=other_side)
    other.start()
    record = InboundRecord("msg:880002", "<xml/>", Incoming(openid="o-deadlock", msg_type="text"))
    reply = receive(factory, record, handle, clock())
    other.join(timeout=30)
    assert reply == "收到" and len(attempts) == 2
    with transaction(factory) as session:
        message = session.scalars(select(InboundMessage)).one()
        assert message.status != "failed" and message.reply == "收到"
        assert session.scalars(select(OutboxMessage)).all() == [], "no alert to the duty desk"


def test_a_database_error_in_a_handler_logs_no_residents_details(
    settings, factory, classifier, clock, caplog
) -> None:
    phone = "138" + "12345678"  # not spelled out, so the traceback's source lines do not show it

    def careless(services, incoming: Incoming) -> Reply:
        query = text("SELECT id FROM no_such_table WHERE phone = :phone")
        services.session.execute(query, {"phone": phone})
        return Reply("不会到这里")

    app = create_app(settings, factory, classifier, clock, router=careless)
    reply = WeChatServer(app.test_client(), settings.wechat, clock).say("demo-resident-zhang", "我的电话换了")
    assert "消息已经保存" in reply
    assert "no_such_table" in caplog.text and phone not in caplog.text


def test_the_demo_is_seeded_once_and_later_changes_survive(settings, factory, clock) -> None:
    with transaction(factory) as session:
        session.scalar(select(Worker).where(Worker.openid == "demo-worker-chen")).on_duty = True
        assert seed_community(session, settings.demo_path, clock()) is False
    with transaction(factory) as session:
        assert session.scalar(select(Worker.on_duty).where(Worker.openid == "demo-worker-chen")) is True


def test_processes_starting_together_migrate_and_seed_once(settings) -> None:
    """`serve` and `scheduler` started at the same moment on a new database: one migrates, none fails."""
    starters = 4
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []
    engines = [make_engine(settings.database_url) for _ in range(starters)]

    def start(engine) -> None:
        barrier.wait()
        try:
            prepare_database(settings, engine, make_session_factory(engine))
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with transaction(make_session_factory(engines[0])) as session:
        grids = session.scalar(select(func.count()).select_from(Grid))
        residents = session.scalar(select(func.count()).select_from(Resident))
    assert (grids, residents) == (3, 3)  # config/demo.toml, once
    for engine in engines:
        engine.dispose()

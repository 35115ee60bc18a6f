"""New jobs of concurrent API requests are committed together (``GroupCommit``), on a real SQLite database.

What must hold: every submitted job is written exactly once, a batch that fails writes none of its jobs and
fails every caller in it, and one idempotency key gets one job however the requests carrying it interleave.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from offchain.relayer import store
from offchain.relayer.api.jobs import create_job
from offchain.relayer.db import GroupCommit, make_engine, make_sessionmaker, migrate
from offchain.relayer.escrow import Escrow, load_abi
from offchain.relayer.exceptions import ApiError
from offchain.relayer.fakechain import FakeChain
from offchain.relayer.models import ApiKey, Transaction
from offchain.relayer.runtime import Runtime
from offchain.relayer.settings import Settings
from tests.relayer.harness import ARTIFACT, database

ESCROW = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'group.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


def new_job(key: str | None = None) -> Transaction:
    return store.new_queued_transaction(
        idempotency_key=key or str(uuid.uuid4()), req_hash="h", kind="finalize", params={},
        from_address=ESCROW, to_address=ESCROW, data=b"\x01", value=0, gas_limit=100_000, chain_id=31337,
        api_key_id=None,
    )  # fmt: skip


def stored_keys(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Transaction.idempotency_key)))


def test_jobs_waiting_while_a_batch_commits_are_written_together_in_the_next(
    sessions: sessionmaker[Session],
) -> None:
    batches: list[int] = []
    first_batch_may_commit = threading.Event()

    def write(session: Session, rows: Sequence[Transaction]) -> list[bool]:
        batches.append(len(rows))
        if len(batches) == 1:
            first_batch_may_commit.wait(30)
        return store.insert_queued_transactions(session, rows)

    writer: GroupCommit[Transaction, bool] = GroupCommit(sessions, write)
    jobs = [new_job() for _ in range(32)]
    with ThreadPoolExecutor(32) as pool:
        first = pool.submit(writer.submit, jobs[0])
        while not batches:  # the first caller leads and holds its batch open
            time.sleep(0.001)
        rest = [pool.submit(writer.submit, job) for job in jobs[1:]]
        while len(writer._pending) < 31:  # everyone else is waiting for it
            time.sleep(0.001)
        first_batch_may_commit.set()
        results = [first.result(), *(f.result() for f in rest)]

    assert results == [True] * 32
    assert batches == [1, 31]
    assert sorted(stored_keys(sessions)) == sorted(job.idempotency_key for job in jobs)


def test_a_failed_batch_writes_none_of_its_jobs_and_fails_every_caller_in_it(sessions: sessionmaker[Session]) -> None:
    def write(session: Session, rows: Sequence[Transaction]) -> list[bool]:
        stored = store.insert_queued_transactions(session, rows)
        raise RuntimeError("disk on fire after the insert")
        return stored  # pragma: no cover

    writer: GroupCommit[Transaction, bool] = GroupCommit(sessions, write)
    with pytest.raises(RuntimeError, match="disk on fire"):
        writer.submit(new_job())
    assert stored_keys(sessions) == []
    # the writer is usable afterwards
    ok: GroupCommit[Transaction, bool] = GroupCommit(sessions, store.insert_queued_transactions)
    assert ok.submit(new_job("after")) is True
    assert stored_keys(sessions) == ["after"]


def test_a_key_already_stored_or_earlier_in_the_batch_is_not_stored_again(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        store.insert_queued_transactions(session, [new_job("old")])
    with sessions.begin() as session:
        stored = store.insert_queued_transactions(session, [new_job("new"), new_job("old"), new_job("new")])
    assert stored == [True, False, False]
    assert sorted(stored_keys(sessions)) == ["new", "old"]


def test_one_key_sent_by_many_threads_at_once_gets_exactly_one_job(sessions: sessionmaker[Session]) -> None:
    writer: GroupCommit[Transaction, bool] = GroupCommit(sessions, store.insert_queued_transactions)
    start = threading.Barrier(16)

    def submit(_: int) -> bool:
        start.wait()
        return writer.submit(new_job("same-key"))

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(submit, range(16)))
    assert results.count(True) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Transaction)) == 1


def test_a_key_another_process_stores_meanwhile_makes_the_request_a_replay_not_an_error(tmp_path: Path) -> None:
    """PostgreSQL, two connections: ours checks the key, the other process's uncommitted insert of it makes ours
    wait on the unique index, and when that commits ours fails; ``create_job`` then stores alone and answers
    as for any request whose key is taken (here 409: the other request had another body)."""
    with database("postgresql", tmp_path) as url:
        migrate(url)
        engine = make_engine(url)
        rt = Runtime(
            settings=Settings(database_url=url, escrow_address=ESCROW), engine=engine,
            sessions=make_sessionmaker(engine), chain=FakeChain(), escrow=Escrow(ESCROW, load_abi(ARTIFACT)),
            chain_id=31337,
        )  # fmt: skip
        other = make_sessionmaker(make_engine(url))()
        other.begin()
        other.add(new_job("raced"))
        other.flush()  # inserted, not committed: invisible to our check, but it holds the key in the index
        with ThreadPoolExecutor(1) as pool:
            ours = pool.submit(
                create_job, rt, key="raced", kind="finalize", body={"ref": "0x01"}, from_address=ESCROW,
                data=b"\x01", api_key=ApiKey(id="k"),
            )  # fmt: skip
            while not waiting_on_a_lock(engine):
                time.sleep(0.005)
            other.commit()
            with pytest.raises(ApiError) as refused:
                ours.result(timeout=30)
        other.close()
        assert refused.value.status == 409 and refused.value.code == "idempotency_conflict"
        with rt.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Transaction)) == 1
        engine.dispose()


def waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        return bool(conn.exec_driver_sql(query).scalar())

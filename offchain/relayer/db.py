"""Engines and sessions. SQLite runs in WAL mode with ``BEGIN IMMEDIATE`` writes; PostgreSQL by URL.

Migrations (Alembic, in ``offchain/relayer/migrations``) run with :func:`migrate` at start-up and from the CLI.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from offchain.relayer.exceptions import StorageError

MIGRATIONS = Path(__file__).with_name("migrations")
IMMEDIATE = "sqlite_immediate"
#: per SQLite engine, the lock its writers queue on inside this process (see `transaction`)
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and IMMEDIATE transactions (one writer at a time)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=10)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # writers (see `transaction`) take the write lock up front; plain reads stay deferred and concurrent
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(IMMEDIATE) else "BEGIN")

        _WRITE_LOCKS[engine] = threading.RLock()
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one write transaction (``BEGIN IMMEDIATE`` on SQLite): committed on success, rolled back on error.

    Plain ``with factory() as session`` sessions are for reads: on SQLite they do not take the write lock.

    SQLAlchemy errors are wrapped in :class:`StorageError` here, at the boundary.
    """
    bind = factory.kw.get("bind")
    # SQLite has one writer at a time. Writers of this process queue on a lock and start the moment it is free,
    # rather than in SQLite's busy handler, which sleeps and retries (up to 100 ms a try) and lets a writer
    # starve for seconds under load. Other processes still meet the busy timeout.
    queue = _WRITE_LOCKS.get(bind) if isinstance(bind, Engine) else None
    with queue or nullcontext():
        session = factory()
        try:
            with session.begin():
                session.connection(execution_options={IMMEDIATE: True})
                yield session
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}") from exc
        finally:
            session.close()


T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Slot(Generic[T, R]):
    item: T
    done: bool = False
    result: R | None = None
    error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Writes that many threads make at once, committed together: one transaction for all that are waiting.

    ``write(session, items)`` runs inside :func:`transaction` and returns one result per item. A caller of
    :meth:`submit` either leads (takes every waiting item, writes and commits them) or finds its item
    committed by the leader before it. Under load the write lock then changes hands once per batch rather
    than once per item; alone, a caller writes at once. If the transaction fails, every item in it fails with
    the same error, and none of them was written.
    """

    def __init__(self, sessions: sessionmaker[Session], write: Callable[[Session, Sequence[T]], Sequence[R]]) -> None:
        self._sessions, self._write = sessions, write
        self._pending: list[_Slot[T, R]] = []
        self._mutex = threading.Lock()  # guards _pending
        self._leader = threading.Lock()  # one batch at a time

    def submit(self, item: T) -> R:
        slot: _Slot[T, R] = _Slot(item)
        with self._mutex:
            self._pending.append(slot)
        with self._leader:
            if not slot.done:
                with self._mutex:
                    batch, self._pending = self._pending, []
                try:
                    with transaction(self._sessions) as session:
                        results = self._write(session, [s.item for s in batch])
                    for waiting, result in zip(batch, results, strict=True):
                        waiting.result = result
                except BaseException as exc:
                    for waiting in batch:
                        waiting.error = exc
                for waiting in batch:
                    waiting.done = True
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (idempotent)."""
    try:
        command.upgrade(alembic_config(url), "head")
    except SQLAlchemyError as exc:
        raise StorageError(f"migrating {url.split('@')[-1]} failed: {exc}; is the database reachable?") from exc

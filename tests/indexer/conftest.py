"""Fixtures of the index suite: anvil with a deployed escrow (one per module), and fresh databases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from offchain.localchain import LocalChain
from tests.relayer.harness import Deployment, database, deploy


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalChain]:
    with LocalChain() as local:
        yield local


@pytest.fixture(scope="module")
def deployment(chain: LocalChain) -> Deployment:
    return deploy(chain)


@pytest.fixture
def new_db(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A factory of fresh databases: ``new_db("sqlite")`` or ``new_db("postgresql")``, dropped after the test."""
    with ExitStack() as stack:
        counter = iter(range(1000))

        def make(kind: str) -> str:
            folder = tmp_path / f"db{next(counter)}"
            folder.mkdir()
            return stack.enter_context(database(kind, folder))

        yield make

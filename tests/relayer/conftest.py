"""Fixtures of the relayer suite: anvil with a deployed escrow, a database (SQLite or PostgreSQL), and a
relayer process serving real HTTP on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from offchain.client import RelayerClient
from offchain.localchain import LocalChain
from tests.relayer.harness import ApiKeys, Deployment, RelayerProcess, database, deploy, prepare

DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalChain]:
    with LocalChain() as local:
        yield local


@pytest.fixture(scope="module")
def deployment(chain: LocalChain) -> Deployment:
    return deploy(chain)


@pytest.fixture(scope="module", params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("relayer")


@pytest.fixture(scope="module")
def api_keys(db_url: str, workdir: Path, deployment: Deployment) -> ApiKeys:
    return prepare(db_url, workdir / "keys", deployment)


@pytest.fixture(scope="module")
def relayer(deployment: Deployment, db_url: str, workdir: Path, api_keys: ApiKeys) -> Iterator[RelayerProcess]:
    process = RelayerProcess(deployment, db_url, workdir).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def api(relayer: RelayerProcess, api_keys: ApiKeys) -> Iterator[RelayerClient]:
    with RelayerClient(relayer.url, api_keys.backend) as client:
        yield client


@pytest.fixture(scope="module")
def arbiter_api(relayer: RelayerProcess, api_keys: ApiKeys) -> Iterator[RelayerClient]:
    with RelayerClient(relayer.url, api_keys.arbiter) as client:
        yield client

"""A deployed escrow on a fresh anvil, and relayer processes (real HTTP, real database) to test against."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from offchain.eip712 import (
    Action,
    Domain,
    OrderTerms,
    PartyAction,
    action_digest,
    encode_args,
    settlement_digest,
    sign_digest,
    terms_digest,
)
from offchain.localchain import DEFAULT_MNEMONIC, LocalChain, free_port
from offchain.relayer import store
from offchain.relayer.db import make_engine, make_sessionmaker, migrate, transaction
from offchain.relayer.keys import Keystore

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / ".build" / "__local__.json"
NATIVE = "0x" + "00" * 20
DAY, HOUR = 86_400, 3_600
PASSPHRASE = "test-passphrase"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

Account.enable_unaudited_hdwallet_features()


def anvil_accounts(n: int = 10) -> list[LocalAccount]:
    return [Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(n)]


def contract_type(name: str) -> dict[str, Any]:
    return dict(json.loads(ARTIFACT.read_text())["contractTypes"][name])


@dataclass
class Deployment:
    """The escrow, a BEP-20 and named accounts on ``chain``; helpers to build, sign and fund orders."""

    chain: LocalChain
    w3: Web3
    escrow: Contract
    token: Contract
    accounts: list[LocalAccount]
    _nonces: dict[str, int] = field(default_factory=dict)

    admin = property(lambda self: self.accounts[0])
    quote_signer = property(lambda self: self.accounts[1])
    arbiter = property(lambda self: self.accounts[2])
    fee_recipient = property(lambda self: self.accounts[3])
    client = property(lambda self: self.accounts[4])
    freelancer = property(lambda self: self.accounts[5])
    outsider = property(lambda self: self.accounts[6])
    sender = property(lambda self: self.accounts[8])  # the relayer's gas-paying key

    @property
    def domain(self) -> Domain:
        return Domain(self.w3.eth.chain_id, self.escrow.address)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def send_many(self, account: LocalAccount, calls: Sequence[Any], values: Sequence[int] | None = None) -> list[str]:
        """Sign and send ``calls`` (contract function calls) back to back; wait for the last receipt."""
        nonce = self.w3.eth.get_transaction_count(account.address, "pending")
        hashes = []
        for i, call in enumerate(calls):
            tx = call.build_transaction({
                "from": account.address, "nonce": nonce + i, "gas": 1_000_000, "chainId": self.w3.eth.chain_id,
                "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, "value": values[i] if values else 0,
            })  # fmt: skip
            signed = account.sign_transaction(tx)
            hashes.append(self.w3.eth.send_raw_transaction(signed.raw_transaction).hex())
        if hashes:
            receipt = self.w3.eth.wait_for_transaction_receipt(hashes[-1], timeout=60)
            assert receipt["status"] == 1, "a set-up transaction reverted"
        return hashes

    def send(self, account: LocalAccount, call: Any, value: int = 0) -> None:
        self.send_many(account, [call], [value])

    def terms(self, **overrides: Any) -> OrderTerms:
        base = OrderTerms(
            orderRef=os.urandom(32),
            client=self.client.address,
            freelancer=self.freelancer.address,
            token=NATIVE,
            amount=10**15,
            feeBps=1_000,
            deliveryDuration=5 * DAY,
            maxRevisions=2,
            quoteExpiry=self.now() + DAY,
        )
        return replace(base, **overrides)

    def quote(self, terms: OrderTerms) -> bytes:
        return sign_digest(self.quote_signer.key, terms_digest(self.domain, terms))

    def fund_orders(self, terms_list: Sequence[OrderTerms]) -> None:
        """The client funds each order itself (``fund``), in native BNB."""
        calls = [self.escrow.functions.fund(t.as_tuple(), self.quote(t)) for t in terms_list]
        for start in range(0, len(calls), 500):
            chunk = calls[start : start + 500]
            self.send_many(self.client, chunk, [t.amount for t in terms_list[start : start + 500]])

    def signed_action(
        self, party: LocalAccount, action: Action, ref: bytes, *args: Any, nonce: int | None = None,
        deadline: int | None = None, signer: LocalAccount | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The API body for a party's signed action."""
        message = PartyAction(
            party=party.address,
            action=action,
            orderRef=ref,
            args=encode_args(action, *args),
            nonce=self.escrow.functions.nonces(party.address).call() if nonce is None else nonce,
            deadline=self.now() + HOUR if deadline is None else deadline,
        )
        signature = sign_digest((signer or party).key, action_digest(self.domain, message))
        return {
            "party": party.address,
            "action": action.name,
            "orderRef": "0x" + ref.hex(),
            "args": "0x" + message.args.hex(),
            "nonce": message.nonce,
            "deadline": message.deadline,
            "signature": "0x" + signature.hex(),
        }

    def settlement_sig(self, ref: bytes, bps: int, party: LocalAccount) -> str:
        return "0x" + sign_digest(party.key, settlement_digest(self.domain, ref, bps)).hex()

    def status(self, ref: bytes) -> int:
        return int(self.escrow.functions.getOrder(ref).call()[1])

    def events(self, name: str, from_block: int = 0) -> list[Any]:
        return list(getattr(self.escrow.events, name)().get_logs(from_block=from_block))


def deploy(chain: LocalChain) -> Deployment:
    w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 30}))
    accounts = anvil_accounts()
    escrow_type, token_type = contract_type("OrderEscrow"), contract_type("MockERC20")

    def create(account: LocalAccount, ctype: dict[str, Any], *args: Any) -> Contract:
        factory = w3.eth.contract(abi=ctype["abi"], bytecode=ctype["deploymentBytecode"]["bytecode"])
        tx = factory.constructor(*args).build_transaction({"from": account.address, "gas": 8_000_000,
             "nonce": w3.eth.get_transaction_count(account.address)})  # fmt: skip
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        )
        return w3.eth.contract(address=receipt["contractAddress"], abi=ctype["abi"])

    admin = accounts[0]
    escrow = create(admin, escrow_type, admin.address, accounts[3].address, DAY, 3 * DAY, 2 * DAY)
    token = create(admin, token_type, "Tether USD", "USDT")
    d = Deployment(chain=chain, w3=w3, escrow=escrow, token=token, accounts=accounts)
    d.send_many(admin, [
        escrow.functions.grantRole(escrow.functions.QUOTE_SIGNER_ROLE().call(), accounts[1].address),
        escrow.functions.grantRole(escrow.functions.ARBITER_ROLE().call(), accounts[2].address),
        escrow.functions.setTokenAllowed(token.address, True),
        token.functions.mint(accounts[4].address, 10**24),
    ])  # fmt: skip
    d.send(accounts[4], token.functions.approve(escrow.address, 2**256 - 1))
    return d


# -- databases --


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh database URL: a SQLite file under ``tmp``, or a uniquely named PostgreSQL database (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'relayer.sqlite'}"
        return
    name = f"relayer_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class ApiKeys:
    backend: str
    arbiter: str
    admin: str


def prepare(database_url: str, keystore_dir: Path, deployment: Deployment) -> ApiKeys:
    """Migrate, write the relayer's keystores and create one API key per scope."""
    migrate(database_url)
    keystore = Keystore(keystore_dir)
    for account in (deployment.sender, deployment.quote_signer, deployment.arbiter):
        if not keystore.path(account.address).exists():
            keystore.add(account.key, PASSPHRASE, scrypt_n=2**4)
    engine = make_engine(database_url)
    with transaction(make_sessionmaker(engine)) as session:
        suffix = uuid.uuid4().hex[:6]
        keys = ApiKeys(
            backend=store.create_api_key(session, name=f"backend-{suffix}", scopes=["backend"]),
            arbiter=store.create_api_key(session, name=f"arbiter-{suffix}", scopes=["arbiter"]),
            admin=store.create_api_key(session, name=f"admin-{suffix}", scopes=["admin"]),
        )
    engine.dispose()
    return keys


@dataclass
class RelayerProcess:
    """``taskescrow relayer serve`` in a subprocess; ``kill`` is SIGKILL (no clean-up of any kind)."""

    deployment: Deployment
    database_url: str
    workdir: Path
    rpc_urls: Sequence[str] | None = None
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        d = self.deployment
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKESCROW_")}
        env.update({
            "TASKESCROW_DATABASE_URL": self.database_url,
            "TASKESCROW_RPC_URLS": ",".join(self.rpc_urls or [d.chain.url]),
            "TASKESCROW_ESCROW_ADDRESS": d.escrow.address,
            "TASKESCROW_ARTIFACT_PATH": str(ARTIFACT),
            "TASKESCROW_KEYSTORE_DIR": str(self.workdir / "keys"),
            "TASKESCROW_KEYSTORE_PASSPHRASE": PASSPHRASE,
            "TASKESCROW_SENDER_ADDRESS": d.sender.address,
            "TASKESCROW_QUOTE_SIGNER_ADDRESS": d.quote_signer.address,
            "TASKESCROW_ARBITER_ADDRESS": d.arbiter.address,
            "TASKESCROW_PORT": str(self.port),
            "TASKESCROW_POLL_INTERVAL": "0.1",
            "TASKESCROW_RPC_RETRIES": "3",
            "TASKESCROW_RUN_INDEXER": "false",  # this suite drives timeouts itself: no watcher, no keeper
            "TASKESCROW_RUN_KEEPER": "false",
        })  # fmt: skip
        env.update(self.env_extra)
        return env

    def start(self, timeout: float = 60.0, *, wait_http: bool = True) -> RelayerProcess:
        self.port = self.port or free_port()
        log = open(self.workdir / f"relayer-{self.port}.log", "ab")  # noqa: SIM115 -- the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "offchain.relayer", "serve"],
            env=self.env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        self.starts += 1
        if not wait_http:
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # waiting for a process to bind its port, not for the chain
            if self.process.poll() is not None:
                raise RuntimeError(f"relayer exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"relayer did not answer in {timeout}s: {self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / f"relayer-{self.port}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

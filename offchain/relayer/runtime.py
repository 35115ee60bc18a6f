"""What a relayer process shares between its API and its workers: settings, database, chain, escrow, signers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from offchain.eip712 import Domain
from offchain.relayer.chain import Chain, RpcChain
from offchain.relayer.db import make_engine, make_sessionmaker, migrate
from offchain.relayer.escrow import Escrow, load_abi
from offchain.relayer.exceptions import ConfigurationError
from offchain.relayer.keys import Keystore, Signer
from offchain.relayer.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    chain: Chain
    escrow: Escrow
    chain_id: int
    signers: dict[str, Signer] = field(default_factory=dict)
    #: in-process wake-ups: "queued" (a job was created), "sent" (attempts were broadcast)
    listeners: dict[str, list[Callable[[], None]]] = field(default_factory=dict)

    def listen(self, topic: str, callback: Callable[[], None]) -> None:
        self.listeners.setdefault(topic, []).append(callback)

    def notify(self, topic: str) -> None:
        """Wake the workers of this process waiting for ``topic`` (others find the work by polling)."""
        for callback in self.listeners.get(topic, ()):
            callback()

    @property
    def domain(self) -> Domain:
        return Domain(self.chain_id, self.escrow.address)

    @property
    def sender(self) -> Signer:
        return self.signer(self.settings.sender_address, "TASKESCROW_SENDER_ADDRESS")

    @property
    def quote_signer(self) -> Signer:
        return self.signer(self.settings.quote_signer_address, "TASKESCROW_QUOTE_SIGNER_ADDRESS")

    @property
    def arbiter(self) -> Signer | None:
        return self.signers.get(self.settings.arbiter_address.lower()) if self.settings.arbiter_address else None

    def signer(self, address: str, variable: str) -> Signer:
        found = self.signers.get(address.lower())
        if found is None:
            raise ConfigurationError(
                f"no key loaded for {variable}={address!r}: import it with `taskescrow keys import`"
            )
        return found


def build_runtime(settings: Settings, *, chain: Chain | None = None, run_migrations: bool = True) -> Runtime:
    """Connect everything; migrations run first (idempotent). Keys are decrypted once, here."""
    if not settings.escrow_address:
        raise ConfigurationError("set TASKESCROW_ESCROW_ADDRESS to the deployed OrderEscrow")
    if run_migrations:
        migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    chain = chain or RpcChain(settings.rpc_urls, retries=settings.rpc_retries, timeout=settings.rpc_timeout)
    chain_id = settings.chain_id or chain.chain_id()
    escrow = Escrow(settings.escrow_address, load_abi(settings.artifact_path))
    keystore = Keystore(settings.keystore_dir)
    signers: dict[str, Signer] = {}
    addresses = {settings.sender_address, settings.quote_signer_address, settings.arbiter_address} - {""}
    if addresses:
        passphrase = settings.passphrase()
        for address in addresses:
            signer = keystore.load(address, passphrase)
            signers[signer.address.lower()] = signer
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        chain=chain,
        escrow=escrow,
        chain_id=chain_id,
        signers=signers,
    )

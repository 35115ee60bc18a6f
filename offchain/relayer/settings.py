"""The relayer's one ``Settings``: every value comes from a ``TASKESCROW_``-prefixed environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of one relayer process (API, workers, or both)."""

    model_config = SettingsConfigDict(env_prefix="TASKESCROW_", extra="ignore")

    database_url: str = "sqlite:///relayer.sqlite"
    rpc_urls: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["http://127.0.0.1:8545"])
    chain_id: int | None = None
    escrow_address: str = ""
    artifact_path: Path = Path(".build/__local__.json")

    keystore_dir: Path = Path("keystores")
    keystore_passphrase: str | None = None
    keystore_passphrase_file: Path | None = None
    #: address of the key that sends transactions (pays gas, calls executeWithSig, timeouts, ...)
    sender_address: str = ""
    #: address of the key that signs quotes (holds QUOTE_SIGNER_ROLE)
    quote_signer_address: str = ""
    #: address of the key that sends ``resolveDispute`` (holds ARBITER_ROLE); empty: rulings are refused
    arbiter_address: str = ""

    confirmations: int = 1
    #: "auto" uses EIP-1559 when the latest block has a base fee, else legacy gas price (BSC)
    fee_mode: str = "auto"
    #: a fixed starting gas price in wei (0: ask the node)
    gas_price_wei: int = 0
    gas_price_max_wei: int = 500 * 10**9
    bump_percent: int = 20
    bump_after_seconds: float = 5.0
    rebroadcast_after_seconds: float = 3.0
    gas_limit_multiplier: float = 1.3
    quote_ttl_seconds: int = 3600

    batch_size: int = 100
    #: after sending a batch that was not full, the submitter waits this long so that the next one gathers more
    #: jobs (a node then mines several per block); the first job after an idle spell goes at once
    submit_linger_seconds: float = 0.05
    #: seconds an idle worker waits before looking again (work from this process wakes it at once)
    poll_interval: float = 0.25
    rpc_retries: int = 5
    rpc_timeout: float = 5.0

    # -- the chain index, webhooks and the timeout keeper (offchain/relayer/index) --
    #: first block to index (the deployment block); the checkpoint takes over after the first range
    index_start_block: int = 0
    #: index only blocks this deep (0: up to the head; reorgs are then rolled back)
    index_confirmations: int = 0
    #: most blocks per eth_getLogs (BSC nodes refuse large ranges; a refused range is split and retried)
    index_max_range: int = 5000
    #: how many recent block hashes are kept to find the common ancestor after a reorg
    index_reorg_window: int = 128
    run_indexer: bool = True
    #: submit due timeouts (finalize, startRevision) from the index; needs the indexer and a sender key
    run_keeper: bool = True
    webhook_timeout: float = 5.0
    webhook_concurrency: int = 8
    webhook_backoff_base: float = 1.0
    webhook_backoff_max: float = 3600.0
    #: failed deliveries are retried this long (seconds) from the first try, then dead-lettered
    webhook_retry_window: float = 86_400.0

    run_api: bool = True
    run_workers: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    @field_validator("rpc_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [u.strip() for u in value.strip("[]").replace('"', "").split(",") if u.strip()]
        return value

    def passphrase(self) -> str:
        """The keystore passphrase from ``TASKESCROW_KEYSTORE_PASSPHRASE`` or ``..._FILE``."""
        from offchain.relayer.exceptions import ConfigurationError

        if self.keystore_passphrase is not None:
            return self.keystore_passphrase
        if self.keystore_passphrase_file is not None:
            return self.keystore_passphrase_file.read_text().rstrip("\n")
        raise ConfigurationError(
            "no keystore passphrase: set TASKESCROW_KEYSTORE_PASSPHRASE or TASKESCROW_KEYSTORE_PASSPHRASE_FILE"
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()

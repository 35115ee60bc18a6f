"""Errors of the relayer. Each message says what went wrong and, where it can, how to fix it.

::

    RelayerError
    ├── ConfigurationError        settings, keystores, artifact: fix the environment and restart
    ├── StorageError              the database failed (wrapped SQLAlchemy error)
    │   └── InvalidTransition     a row was not in the state a transition starts from
    ├── ChainError                the node failed or answered with an error
    │   ├── RpcUnavailable        no RPC URL answered after retries (transient: retry later)
    │   ├── NonceTooLow           the node has already seen this sender's nonce
    │   ├── AlreadyKnown          the node already holds this exact transaction (harmless)
    │   ├── Underpriced           the replacement or the price is too low
    │   └── Reverted              a call or gas estimate reverted; carries the decoded custom error
    └── ApiError                  an HTTP API error with a status code (raised by routes)

web3, httpx and database errors never leave a module raw: they are wrapped at the boundary with
``raise … from exc``. No message ever contains a private key or a keystore passphrase.
"""

from __future__ import annotations

from typing import Any


class RelayerError(Exception):
    """Base of every relayer error."""


class ConfigurationError(RelayerError):
    """Settings, keystores or the contract artifact are missing or wrong."""


class StorageError(RelayerError):
    """The database failed; the wrapped error is the ``__cause__``."""


class InvalidTransition(StorageError):
    """A storage transition found its row in another state than the one it starts from."""

    def __init__(self, entity: str, ident: object, expected: tuple[str, ...], current: str | None) -> None:
        super().__init__(f"invariant violation: expected {entity} {ident} to be {'/'.join(expected)}, it is {current}")
        self.entity, self.ident, self.expected, self.current = entity, ident, expected, current


class ChainError(RelayerError):
    """The node failed or answered with an error."""


class RpcUnavailable(ChainError):
    """No configured RPC URL answered; check TASKESCROW_RPC_URLS and the node."""


class NonceTooLow(ChainError):
    """The node has already seen a transaction of this sender with this nonce."""


class AlreadyKnown(ChainError):
    """The node already holds exactly this transaction."""


class Underpriced(ChainError):
    """The gas price is below what the node accepts (or too small a bump for a replacement)."""


class Reverted(ChainError):
    """A call, estimate or transaction reverted. ``error`` is the decoded custom error, ``values`` its arguments."""

    def __init__(self, data: bytes, error: str | None = None, values: dict[str, Any] | None = None, reason: str = ""):
        super().__init__(reason or error or f"reverted with data 0x{data.hex()}")
        self.data, self.error, self.values = data, error, values or {}
        self.reason = reason or (error or "reverted")


class ApiError(RelayerError):
    """An error the HTTP API returns as ``{"detail": {"code", "message", ...}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

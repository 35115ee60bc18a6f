"""Encrypted JSON keystores (eth-account). A private key lives only inside a :class:`Signer`.

Files are ``<keystore_dir>/<checksum address>.json``; the passphrase comes from the environment or a file
(see :meth:`Settings.passphrase`). Nothing here puts a key or a passphrase in a message or a ``repr``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from offchain.relayer.exceptions import ConfigurationError


class Signer:
    """Signs transactions and digests for one address; its key is not reachable through ``repr`` or ``str``."""

    __slots__ = ("__account", "address")

    def __init__(self, account: LocalAccount) -> None:
        self.__account = account
        self.address: str = account.address

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    def sign_transaction(self, tx: dict[str, Any]) -> tuple[bytes, str]:
        signed = self.__account.sign_transaction(tx)
        return bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()

    def sign_digest(self, digest: bytes) -> bytes:
        return bytes(Account.unsafe_sign_hash(digest, self.__account.key).signature)


class Keystore:
    """A folder of encrypted keystores."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, address: str) -> Path:
        return self.directory / f"{to_checksum_address(address)}.json"

    def addresses(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("0x*.json"))

    def add(self, private_key: bytes | str, passphrase: str, *, scrypt_n: int | None = None) -> str:
        """Encrypt ``private_key`` into the folder; returns its address. Refuses to overwrite."""
        try:
            account = Account.from_key(private_key)
        except Exception:  # its message could quote the key: drop it
            raise ConfigurationError("that is not a valid private key (expected 32 bytes as hex)") from None
        target = self.path(account.address)
        if target.exists():
            raise ConfigurationError(f"a keystore for {account.address} exists already at {target}")
        encrypted = Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=scrypt_n)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(encrypted, handle)
        return account.address

    def new(self, passphrase: str, *, scrypt_n: int | None = None) -> str:
        return self.add(secrets.token_bytes(32), passphrase, scrypt_n=scrypt_n)

    def load(self, address: str, passphrase: str) -> Signer:
        target = self.path(address)
        try:
            encrypted = json.loads(target.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"no readable keystore for {address} in {self.directory}: create it with `taskescrow keys import`"
            ) from exc
        try:
            key = Account.decrypt(encrypted, passphrase)
        except ValueError:
            raise ConfigurationError(f"cannot decrypt the keystore of {address}: wrong passphrase?") from None
        return Signer(Account.from_key(key))

"""Start a throw-away anvil on a free port, wait until it answers, and always stop it.

Used by the tests, the demo and the benchmarks::

    with LocalChain(chain_id=97) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url))

The port is chosen by the operating system (never an assumed 8545), the process is killed when the
block exits -- also on an exception or Ctrl-C -- and, as a last resort, when the interpreter exits.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from offchain.toolchain import anvil_executable

#: anvil's default mnemonic; its accounts are well known and only ever hold test money.
DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"


class LocalChainError(RuntimeError):
    """anvil did not start or did not answer in time; the message carries its output."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def rpc(url: str, method: str, params: Sequence[object] = (), timeout: float = 5.0) -> object:
    """One JSON-RPC call over HTTP; raises :class:`LocalChainError` on a JSON-RPC error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise LocalChainError(f"{method} failed: {answer['error']}")
    return answer["result"]


@dataclass
class LocalChain:
    """An anvil process of our own. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    chain_id: int = 31337
    accounts: int = 10
    balance_ether: int = 10_000
    mnemonic: str = DEFAULT_MNEMONIC
    block_time: int | None = None
    extra_args: Sequence[str] = ()
    host: str = "127.0.0.1"
    startup_timeout: float = 20.0
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _home: str | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        args = [
            str(anvil_executable()),
            "--host", self.host,
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
            "--balance", str(self.balance_ether),
            "--mnemonic", self.mnemonic,
            "--silent",
        ]  # fmt: skip
        if self.block_time is not None:
            args += ["--block-time", str(self.block_time)]
        return [*args, *self.extra_args]

    def start(self) -> LocalChain:
        if self.running:
            return self
        for _attempt in range(3):  # a free port can be taken between the check and anvil's bind
            self.port = self.port or free_port(self.host)
            # anvil spills old chain states to $HOME/.foundry/anvil/tmp and leaves them behind when it is
            # stopped: a long run filled 78 GB. Each chain gets a home of its own, removed with the chain.
            self._home = tempfile.mkdtemp(prefix="taskescrow-anvil-")
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "HOME": self._home},
            )
            atexit.register(self.stop)
            if self._wait_until_ready():
                return self
            self.stop()
            self.port = 0
        raise LocalChainError("anvil did not start after 3 attempts on free ports")

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                if int(str(rpc(self.url, "eth_chainId", timeout=1.0)), 16) == self.chain_id:
                    return True
            except (OSError, urllib.error.URLError, ValueError, LocalChainError):
                pass
            time.sleep(0.05)  # waiting for a process to bind its port, not for the chain
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        home, self._home = self._home, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # anvil's graceful shutdown
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)

    def __enter__(self) -> LocalChain:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- chain controls used by tests and the demo (they mine or move time; nothing sleeps) --

    def rpc(self, method: str, *params: object) -> object:
        return rpc(self.url, method, params)

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def increase_time(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", hex(seconds))
        self.mine()

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> bool:
        """Return to ``snapshot_id``; anvil consumes the id, so take a new snapshot to return again."""
        return bool(self.rpc("evm_revert", snapshot_id))

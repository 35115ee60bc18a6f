"""Where the project's pinned toolchain lives, and how to put it in front of ape and py-solc-x.

The compiler is the npm ``solc`` package (pinned once, in ``package.json``); ``make setup`` writes an
executable ``solc-v<version>`` into :data:`SOLCX_DIR` that runs ``tools/solc/solc-adapter.js``.
py-solc-x (and so ape-solidity) finds it through ``SOLCX_BINARY_PATH``; anvil comes from the npm
package ``@foundry-rs/anvil-linux-amd64``, which ape-foundry finds on ``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
SOLCX_DIR = ROOT / ".solcx"
ADAPTER = ROOT / "tools" / "solc" / "solc-adapter.js"
ANVIL_BIN_DIR = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin"


class ToolchainMissing(RuntimeError):
    """A pinned tool is not installed; ``make setup`` installs it."""


@cache
def solc_version() -> str:
    """The one pinned compiler version, as ``package.json`` gives it (e.g. ``0.8.28``)."""
    pins = json.loads((ROOT / "package.json").read_text())["dependencies"]
    return pins["solc"]


def solc_executable() -> Path:
    """The adapter executable py-solc-x looks for, named ``solc-v<version>``."""
    exe = SOLCX_DIR / f"solc-v{solc_version()}"
    if not exe.exists():
        raise ToolchainMissing(f"{exe} is missing: run `make setup` to install the solc adapter")
    return exe


def anvil_executable() -> Path:
    """The anvil binary from the pinned npm package (or, failing that, one on PATH)."""
    exe = ANVIL_BIN_DIR / "anvil"
    if exe.exists():
        return exe
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ToolchainMissing("anvil is not installed: run `make setup` (npm package @foundry-rs/anvil-linux-amd64)")


def activate() -> None:
    """Point py-solc-x at the adapter and put anvil on PATH for this process and its children."""
    os.environ["SOLCX_BINARY_PATH"] = str(SOLCX_DIR)
    path = os.environ.get("PATH", "")
    if str(ANVIL_BIN_DIR) not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([str(ANVIL_BIN_DIR), path]) if path else str(ANVIL_BIN_DIR)

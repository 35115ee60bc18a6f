"""Compile Solidity with the pinned compiler through the adapter, without ape (for tools and tests)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from offchain.toolchain import ROOT, solc_executable

OPENZEPPELIN_REMAPPING = "@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"


class SolcError(RuntimeError):
    """The compiler reported errors; the message lists them as ``file:line:col: message``."""


def standard_input(
    sources: dict[str, Path], *, evm_version: str = "cancun", optimize_runs: int = 200
) -> dict[str, Any]:
    """A standard-JSON input for ``sources`` (source unit name -> file) with the project's settings."""
    return {
        "language": "Solidity",
        "sources": {name: {"content": path.read_text()} for name, path in sources.items()},
        "settings": {
            "evmVersion": evm_version,
            "optimizer": {"enabled": True, "runs": optimize_runs},
            "remappings": [OPENZEPPELIN_REMAPPING],
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }


def compile_standard(input_json: dict[str, Any], *, base_path: Path = ROOT) -> dict[str, Any]:
    """Run the adapter in ``--standard-json`` mode and raise :class:`SolcError` on compiler errors."""
    proc = subprocess.run(
        [str(solc_executable()), "--standard-json", "--base-path", str(base_path)],
        input=json.dumps(input_json),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SolcError(f"solc adapter exited {proc.returncode}: {proc.stderr.strip()}")
    output = json.loads(proc.stdout)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SolcError("\n".join(e.get("formattedMessage", e["message"]).strip() for e in errors))
    return output

"""Run slither over the production contracts through the solc adapter and fail on high or medium findings.

slither cannot download a compiler here, so it is given a standard-JSON input (the contracts under
``contracts/`` except ``contracts/mocks/``, compiled with the project's settings) and the adapter as
``--solc``. Findings in OpenZeppelin (``node_modules``) are filtered out; anything excluded in our own
code is excluded inline with ``// slither-disable-next-line <detector>`` and the reason beside it.

    python -m offchain.static_analysis [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from offchain.solc import OPENZEPPELIN_REMAPPING
from offchain.toolchain import ROOT, solc_executable

FAILING_IMPACTS = ("High", "Medium")


def production_sources() -> list[Path]:
    return sorted(p for p in (ROOT / "contracts").rglob("*.sol") if "mocks" not in p.relative_to(ROOT).parts)


def slither_input() -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {str(p.relative_to(ROOT)): {"content": p.read_text()} for p in production_sources()},
        "settings": {
            "evmVersion": "cancun",
            "optimizer": {"enabled": True, "runs": 200},
            "remappings": [OPENZEPPELIN_REMAPPING],
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode", "evm.deployedBytecode"], "": ["ast"]}},
        },
    }


def run_slither() -> list[dict[str, Any]]:
    """The detector results for our own contracts (dependencies filtered out)."""
    slither = Path(sys.executable).parent / "slither"
    with tempfile.TemporaryDirectory(prefix="taskescrow-slither-") as tmp:
        work = Path(tmp)
        (work / "input.json").write_text(json.dumps(slither_input()))
        out = work / "findings.json"
        proc = subprocess.run(
            [
                str(slither),
                str(work / "input.json"),
                "--compile-force-framework",
                "solc-json",
                "--solc",
                str(solc_executable()),
                "--filter-paths",
                "node_modules",
                "--json",
                str(out),
            ],
            cwd=ROOT,  # slither reads the sources by their paths; it leaves crytic-export/ here (gitignored)
            capture_output=True,
            text=True,
            check=False,
        )
        if not out.exists():
            raise RuntimeError(f"slither produced no report (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        report = json.loads(out.read_text())
    if not report.get("success"):
        raise RuntimeError(f"slither failed: {report.get('error')}")
    return report["results"].get("detectors", [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the findings to this file")
    args = parser.parse_args(argv)
    findings = run_slither()
    counts = Counter(f["impact"] for f in findings)
    for f in findings:
        print(f"[{f['impact']}] {f['check']}: {f['description'].splitlines()[0]}")
    summary = ", ".join(f"{n} {impact.lower()}" for impact, n in sorted(counts.items()))
    print(f"slither: {summary or 'clean'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"counts": counts, "findings": findings}, indent=2))
    failing = sum(counts[i] for i in FAILING_IMPACTS)
    if failing:
        print(f"slither: {failing} high/medium finding(s): fix them or exclude inline with the reason", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

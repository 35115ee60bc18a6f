"""``make demo``: start a local chain with BSC testnet's chain id, compile, and stop cleanly.

The full marketplace demo (deploy, relayer, every path of the order-flow article) grows here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rich.console import Console

from offchain import toolchain
from offchain.localchain import LocalChain


def main() -> int:
    toolchain.activate()
    console = Console()
    with LocalChain(chain_id=97) as chain:
        console.print(f"[bold]anvil[/] with chain id 97 at {chain.url}")
        subprocess.run([str(Path(sys.executable).parent / "ape"), "compile"], check=True, cwd=toolchain.ROOT)
        console.print("[green]compiled[/]; nothing further to deploy yet")
    console.print("local chain stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

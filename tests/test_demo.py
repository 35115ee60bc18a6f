"""The main job: `make demo` plays every path of the article through the relayer and the books balance."""

import subprocess
import sys

from offchain.toolchain import ROOT


def test_the_demo_plays_every_path_through_the_relayer_and_the_books_balance():
    proc = subprocess.run(
        [sys.executable, "-m", "offchain.demo", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "the books balance" in output
    assert "13 orders" in output
    assert "NO" not in output.split("reconciliation", 1)[1]  # every reconciliation row holds
    assert "0 bad, 0 duplicate ids" in output

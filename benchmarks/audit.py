"""A long property campaign against a fresh anvil: ``make audit STEPS=N``.

Runs the hypothesis state machine of ``tests/property`` for about N transactions with a progress bar, then,
on the same anvil, measures the raw rate of pre-signed transactions (the ceiling for any differential suite)
and reports the ratio, per-row coverage and the rejection kinds. Exits 1 on a contract/model mismatch, after
printing the shrunk counterexample as a readable sequence of calls. Writes ``benchmarks/results/audit.json``.

``TASKESCROW_ESCROW_ARTIFACT=path/to/OrderEscrow.json`` audits another compiled OrderEscrow (a mutant).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import traceback
from pathlib import Path

import click
import hypothesis.core
from hypothesis.stateful import run_state_machine_as_test
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from offchain.toolchain import activate
from tests.property.machine import EscrowMachine, campaign, coverage_report, stop_campaign, walk_every_path
from tests.property.test_escrow_properties import campaign_settings

RESULTS = Path(__file__).resolve().parent / "results" / "audit.json"
TARGET_RATIO = 0.35


def raw_rate(count: int = 400) -> float:
    """Pre-signed plain transfers sent one by one to the campaign's anvil: transactions per second."""
    c = campaign()
    node, spare, to = c.node, c.escrow.spare, c.escrow.keeper.address
    raws = [node.sign(spare, to, b"", value=1, gas=21_000) for _ in range(count)]
    node.pinned = None
    start = time.perf_counter()
    for raw in raws:
        node.rpc("eth_sendRawTransactionSync", raw)
    elapsed = time.perf_counter() - start
    node.last_timestamp = int(node.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    return count / elapsed


@click.command()
@click.option("--steps", type=int, default=lambda: int(os.environ.get("TASKESCROW_STEPS", 20_000)), show_default=True)
@click.option("--seed", type=int, default=None, help="Hypothesis seed (random if not given; printed either way).")
def main(steps: int, seed: int | None) -> None:
    activate()
    console = Console()
    seed = seed if seed is not None else random.randrange(2**32)
    hypothesis.core.global_force_seed = seed  # what pytest's --hypothesis-seed sets
    console.print(f"[bold]taskescrow audit[/]: {steps} steps, seed {seed}")
    c = campaign()
    c.reset_coverage()
    failure: BaseException | None = None
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.0f} steps/s"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("campaign", total=steps, rate=0.0)
        start = time.perf_counter()

        def tick() -> None:
            if c.steps % 25 == 0:
                progress.update(task, completed=min(c.steps, steps), rate=c.steps / (time.perf_counter() - start))

        c.on_step = tick
        try:
            walk_every_path(EscrowMachine())  # every row of the table once, then the random campaign
            run_state_machine_as_test(EscrowMachine, settings=campaign_settings(steps))
        except BaseException as exc:  # a mismatch (after shrinking) or an infrastructure error
            if isinstance(exc, KeyboardInterrupt):
                raise
            failure = exc
        elapsed = time.perf_counter() - start
        c.on_step = None
        progress.update(task, completed=min(c.steps, steps))
    run_steps = c.steps
    steps_per_s = run_steps / elapsed if elapsed else 0.0
    raw = raw_rate()
    ratio = steps_per_s / raw if raw else 0.0
    rows, missing = coverage_report(c)

    table = Table(title="transition rows exercised")
    table.add_column("count", justify="right")
    table.add_column("row")
    for row, count in rows:
        table.add_row(str(count), row if count else f"[red]{row}[/]")
    console.print(table)
    rejections = Table(title="rejections exercised")
    rejections.add_column("count", justify="right")
    rejections.add_column("error")
    for kind, count in c.rejections.most_common():
        rejections.add_row(str(count), kind)
    console.print(rejections)
    console.print(
        f"seed {seed}: {run_steps} steps in {c.examples} examples, {elapsed:.1f}s, {steps_per_s:.0f} steps/s;"
        f" raw pre-signed transactions {raw:.0f}/s; ratio {ratio:.2f} (target ≥ {TARGET_RATIO});"
        f" rows {len(rows) - len(missing)}/{len(rows)}"
    )
    failures: list[str] = []
    if missing:
        failures.append(f"rows never exercised: {missing}")
        console.print(f"[bold red]FAILED[/]: {len(missing)} row(s) of the table were never exercised")
    if ratio < TARGET_RATIO:
        console.print(f"[yellow]note[/]: the ratio {ratio:.2f} is below the target {TARGET_RATIO}")
    if failure is not None:
        failures.append(f"{type(failure).__name__}: {failure}")
        console.print("[bold red]FAILED[/]: the contract and the model disagree. Shrunk counterexample:")
        for line in c.last_history:
            console.print(f"  {line}", markup=False, highlight=False)
        console.print("".join(traceback.format_exception_only(failure)), markup=False, highlight=False)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "steps": run_steps,
                "steps_per_s": round(steps_per_s, 1),
                "raw_tx_per_s": round(raw, 1),
                "ratio": round(ratio, 3),
                "failures": failures,
                "rows_covered": len(rows) - len(missing),
                "rows_total": len(rows),
                "seed": seed,
            },
            indent=2,
        )
        + "\n"
    )
    stop_campaign()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

"""Gas regressions: every operation stays within 2% of the committed snapshot and under its target.

The measurement is ``benchmarks/gas.py`` (the one ``make bench-gas`` prints) on an anvil of its own. A deliberate
change of the numbers is accepted by ``make bench-gas-update`` and committing ``benchmarks/gas-snapshot.json``.
"""

from __future__ import annotations

import pytest

from benchmarks.gas import (
    OPERATIONS,
    SNAPSHOT,
    SNAPSHOT_TOLERANCE,
    TARGETS,
    load_snapshot,
    over_snapshot,
    over_target,
    run_measurement,
)

HOW_TO_UPDATE = (
    "if the change is deliberate, run `make bench-gas-update` and commit benchmarks/gas-snapshot.json with it"
)


@pytest.fixture(scope="module")
def gas() -> dict[str, int]:
    return run_measurement()


def test_gas_is_measured_for_exactly_the_documented_operations(gas: dict[str, int]) -> None:
    assert list(gas) == list(OPERATIONS)
    assert sorted(load_snapshot()) == sorted(OPERATIONS), f"{SNAPSHOT} lists other operations; {HOW_TO_UPDATE}"
    assert all(value > 21_000 for value in gas.values())


def test_gas_measurement_is_reproducible(gas: dict[str, int]) -> None:
    assert run_measurement() == gas


def test_money_and_happy_paths_add_up_their_operations(gas: dict[str, int]) -> None:
    assert gas["money_path_native"] == gas["fund_native"] + gas["accept"] + gas["withdraw_native"]
    assert gas["happy_path_native"] == (
        gas["fund_native"] + gas["submit_requirements"] + gas["deliver"] + gas["accept"] + gas["withdraw_native"]
    )


def test_no_operation_is_above_its_gas_target(gas: dict[str, int]) -> None:
    over = over_target(gas)
    assert not over, "above target: " + ", ".join(f"{k} {used:,} > {t:,}" for k, (used, t) in over.items())
    assert set(TARGETS) <= set(gas)


def test_no_operation_is_more_than_two_percent_above_the_snapshot(gas: dict[str, int]) -> None:
    over = over_snapshot(gas, load_snapshot())
    assert not over, (
        f"more than {SNAPSHOT_TOLERANCE:.0%} above {SNAPSHOT.name}: "
        + ", ".join(f"{k} {used:,} vs {snap:,} ({(used - snap) / snap:+.1%})" for k, (used, snap) in over.items())
        + f"; {HOW_TO_UPDATE}"
    )


def test_snapshot_check_flags_an_operation_three_percent_above_its_snapshot() -> None:
    snapshot = dict.fromkeys(OPERATIONS, 100_000)
    measured = dict(snapshot, accept=103_000, deliver=101_999)

    assert over_snapshot(measured, snapshot) == {"accept": (103_000, 100_000)}

"""The escrow behaves exactly like the reference model, step by step, on a real anvil.

``TASKESCROW_STEPS`` sets the campaign's length (default: a short campaign for ``make test``);
``TASKESCROW_ESCROW_ARTIFACT`` points it at another compiled OrderEscrow (a mutant). ``make audit`` runs the
long campaign with progress and coverage (``benchmarks/audit.py``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.property.machine import EscrowMachine, campaign, coverage_report, steps_from_env, walk_every_path

STEPS_PER_EXAMPLE = 50
DEFAULT_STEPS = 3_000


def campaign_settings(steps: int) -> settings:
    # The mutation harness only needs to know whether the suite fails, not the smallest counterexample.
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if not os.environ.get("TASKESCROW_NO_SHRINK"):
        phases.append(Phase.shrink)
    return settings(
        phases=phases,
        max_examples=max(1, steps // STEPS_PER_EXAMPLE),
        stateful_step_count=STEPS_PER_EXAMPLE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def test_every_path_of_the_article_matches_the_model_and_covers_every_row() -> None:
    c = campaign()
    c.reset_coverage()
    incomplete = walk_every_path(EscrowMachine())
    assert not incomplete, f"these paths stopped at a rejected step: {incomplete}"
    _, missing = coverage_report(c)
    assert not missing, f"rows no path exercised: {missing}"


def test_the_escrow_matches_the_model_after_every_step_of_a_campaign() -> None:
    steps = steps_from_env(DEFAULT_STEPS)
    c = campaign()
    c.reset_coverage()
    walk_every_path(EscrowMachine())  # every row once, then the random campaign
    run_state_machine_as_test(EscrowMachine, settings=campaign_settings(steps))
    rows, missing = coverage_report(c)
    print(f"\n{c.steps} steps in {c.examples} examples; rows covered {len(rows) - len(missing)}/{len(rows)}")
    for row, count in rows:
        print(f"  {count:6d}  {row}")
    for kind, count in c.rejections.most_common():
        print(f"  {count:6d}  rejected: {kind}")
    if steps >= DEFAULT_STEPS and not os.environ.get("TASKESCROW_ESCROW_ARTIFACT"):
        assert not missing, f"a default campaign must exercise every row; never exercised: {missing}"

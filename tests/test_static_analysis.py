"""slither over the production contracts: zero high and zero medium findings."""

from offchain.static_analysis import FAILING_IMPACTS, production_sources, run_slither


def test_slither_reports_no_high_or_medium_findings():
    findings = run_slither()
    serious = [
        f"{f['impact']} {f['check']}: {f['description'].splitlines()[0]}"
        for f in findings
        if f["impact"] in FAILING_IMPACTS
    ]
    assert serious == []


def test_slither_analyses_the_escrow_and_not_the_mocks():
    names = {p.name for p in production_sources()}
    assert "OrderEscrow.sol" in names and "OrderMath.sol" in names
    assert not any("Mock" in n or "Hostile" in n for n in names)

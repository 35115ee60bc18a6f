"""Deployment settings and records, in process: defaults, the config file, the environment, and their errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from offchain.deployment import (
    DEFAULT_DEPLOYMENTS_DIR,
    DeploymentError,
    DeploymentRecord,
    compiler_settings,
    deployments_dir,
    load_record,
    load_settings,
    parse_duration,
    role_name,
    save_record,
)

SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ARBITER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def test_settings_default_to_the_spec_timings_and_nothing_else() -> None:
    settings = load_settings(environ={})

    assert (settings.response_window, settings.review_period, settings.serious_delay) == (86_400, 259_200, 172_800)
    assert settings.admin is None and settings.fee_recipient is None
    assert settings.quote_signers == settings.arbiters == settings.tokens == ()
    assert not settings.force and not settings.mock_token


def test_environment_overrides_the_config_file_and_each_value_says_where_it_came_from(tmp_path: Path) -> None:
    config = tmp_path / "deploy.toml"
    config.write_text(f'[deploy]\nreview_period = "2d"\nresponse_window = 3600\narbiters = ["{ARBITER.lower()}"]\n')

    settings = load_settings(
        config,
        environ={"TASKESCROW_REVIEW_PERIOD": "1w", "TASKESCROW_QUOTE_SIGNERS": f"{SIGNER}, {SIGNER},"},
    )

    assert settings.review_period == 7 * 86_400
    assert settings.response_window == 3_600
    assert settings.arbiters == (ARBITER,)  # checksummed
    assert settings.quote_signers == (SIGNER,)  # repeats dropped
    assert settings.sources == {
        "review_period": "TASKESCROW_REVIEW_PERIOD",
        "response_window": str(config),
        "arbiters": str(config),
        "quote_signers": "TASKESCROW_QUOTE_SIGNERS",
    }


def test_config_file_can_be_json_and_named_by_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "deploy.json"
    config.write_text(json.dumps({"fee_recipient": SIGNER, "mock_token": True, "confirmations": 5}))

    settings = load_settings(environ={"TASKESCROW_DEPLOY_CONFIG": str(config), "TASKESCROW_FORCE_REDEPLOY": "yes"})

    assert settings.fee_recipient == SIGNER
    assert settings.mock_token and settings.force
    assert settings.confirmations == 5


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TASKESCROW_ADMIN": "0x1234"}, "admin (from TASKESCROW_ADMIN): '0x1234' is not an address"),
        ({"TASKESCROW_FEE_RECIPIENT": "0x" + "0" * 40}, "the zero address is not allowed"),
        ({"TASKESCROW_SERIOUS_DELAY": "0"}, "outside the contract's bounds"),
        ({"TASKESCROW_SERIOUS_DELAY": "366d"}, "outside the contract's bounds"),
        ({"TASKESCROW_RESPONSE_WINDOW": "a day"}, "'a day' is not a duration"),
        ({"TASKESCROW_TOKENS": f"{SIGNER},nope"}, "tokens (from TASKESCROW_TOKENS), item 2: 'nope' is not an address"),
        ({"TASKESCROW_MOCK_TOKEN": "maybe"}, "is not a yes/no value"),
        ({"TASKESCROW_CONFIRMATIONS": "-1"}, "must be 0 or more"),
    ],
)
def test_a_wrong_setting_is_refused_naming_the_setting_and_its_source(environ: dict[str, str], message: str) -> None:
    with pytest.raises(DeploymentError, match=re.escape(message)):
        load_settings(environ=environ)


def test_config_file_with_an_unknown_setting_or_bad_syntax_is_refused(tmp_path: Path) -> None:
    typo = tmp_path / "deploy.toml"
    typo.write_text(f'fee_recipent = "{SIGNER}"\n')
    broken = tmp_path / "broken.json"
    broken.write_text("{")

    with pytest.raises(DeploymentError, match="unknown setting"):
        load_settings(typo, environ={})
    with pytest.raises(DeploymentError, match="is not valid JSON"):
        load_settings(broken, environ={})
    with pytest.raises(DeploymentError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_durations_accept_seconds_and_units() -> None:
    assert [parse_duration(v, what="t") for v in (90, "90", "90s", "15m", "24h", "3d", "1w")] == [
        90,
        90,
        90,
        900,
        86_400,
        259_200,
        604_800,
    ]


def test_role_names_accept_the_contract_spelling_and_short_aliases() -> None:
    assert role_name("quote-signer") == role_name("QUOTE_SIGNER_ROLE") == "QUOTE_SIGNER_ROLE"
    assert role_name("arbiter") == "ARBITER_ROLE"
    assert role_name("admin") == "DEFAULT_ADMIN_ROLE"
    with pytest.raises(DeploymentError, match="unknown role 'auditor'"):
        role_name("auditor")


def test_deployments_folder_comes_from_the_environment(tmp_path: Path) -> None:
    assert deployments_dir({}) == DEFAULT_DEPLOYMENTS_DIR
    assert deployments_dir({"TASKESCROW_DEPLOYMENTS_DIR": str(tmp_path)}) == tmp_path


def test_a_record_round_trips_and_a_corrupt_record_is_reported(tmp_path: Path) -> None:
    record = DeploymentRecord(
        chain_id=97,
        network="ethereum:local:foundry",
        contract="OrderEscrow",
        address=SIGNER,
        block_number=1,
        block_timestamp=1_700_000_000,
        tx_hash="0x" + "ab" * 32,
        deployer=SIGNER,
        constructor_args={"admin": SIGNER},
        admin=SIGNER,
        fee_recipient=SIGNER,
        roles={"DEFAULT_ADMIN_ROLE": [SIGNER]},
        tokens=[],
        paused=False,
        compiler={"version": "0.8.28"},
        runtime_code_hash="0x" + "cd" * 32,
    )
    assert load_record(97, tmp_path) is None
    save_record(record, tmp_path)
    assert load_record(97, tmp_path) == record

    (tmp_path / "97.json").write_text("{")
    with pytest.raises(DeploymentError, match="is not a deployment record"):
        load_record(97, tmp_path)


def test_compiler_settings_come_from_the_manifest_entry_that_built_the_contract() -> None:
    compilers = [
        {"name": "vyper", "version": "0.4.0", "contractTypes": ["Other"], "settings": {}},
        {
            "name": "solidity",
            "version": "0.8.28+commit.7893614a",
            "contractTypes": ["OrderEscrow"],
            "settings": {"evmVersion": "cancun", "optimizer": {"enabled": True, "runs": 200}},
        },
    ]
    assert compiler_settings(compilers, "OrderEscrow") == {
        "name": "solidity",
        "version": "0.8.28+commit.7893614a",
        "evm_version": "cancun",
        "optimizer": {"enabled": True, "runs": 200},
        "via_ir": False,
        "remappings": [],
    }
    with pytest.raises(DeploymentError, match="run `ape compile`"):
        compiler_settings(compilers, "Missing")

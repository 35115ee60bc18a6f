"""``ape run deploy`` and ``ape run roles`` end to end, as an operator runs them, against anvil with chain id 97.

Each test gets its own deployments folder (``TASKESCROW_DEPLOYMENTS_DIR``) and reads back from the chain with
web3 what the scripts recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from offchain.localchain import LocalChain
from offchain.toolchain import ROOT

pytestmark = pytest.mark.slow  # about 25 `ape run` processes of 2-3 s of CPU each

APE = str(Path(sys.executable).parent / "ape")
ZERO_ROLE = b"\x00" * 32
QUOTE_SIGNER_ROLE = keccak(text="QUOTE_SIGNER_ROLE")
ARBITER_ROLE = keccak(text="ARBITER_ROLE")

# anvil's (and ape's) default test accounts
DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # TEST::0
SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # TEST::1
ARBITER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"  # TEST::2
FEES = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # TEST::3
OTHER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"  # TEST::4
MULTISIG = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"  # TEST::9

_VIEW = {"stateMutability": "view", "type": "function"}
ESCROW_ABI: list[dict[str, Any]] = [
    {**_VIEW, "name": "hasRole", "inputs": [{"type": "bytes32"}, {"type": "address"}], "outputs": [{"type": "bool"}]},
    {**_VIEW, "name": "allowedTokens", "inputs": [{"type": "address"}], "outputs": [{"type": "bool"}]},
    {**_VIEW, "name": "feeRecipient", "inputs": [], "outputs": [{"type": "address"}]},
    {**_VIEW, "name": "paused", "inputs": [], "outputs": [{"type": "bool"}]},
    {**_VIEW, "name": "responseWindow", "inputs": [], "outputs": [{"type": "uint64"}]},
    {**_VIEW, "name": "reviewPeriod", "inputs": [], "outputs": [{"type": "uint64"}]},
    {**_VIEW, "name": "seriousDelay", "inputs": [], "outputs": [{"type": "uint64"}]},
    {**_VIEW, "name": "symbol", "inputs": [], "outputs": [{"type": "string"}]},
]


@pytest.fixture(scope="module")
def bsc_like() -> Iterator[LocalChain]:
    with LocalChain(chain_id=97) as chain:
        yield chain


@pytest.fixture(scope="module")
def w3(bsc_like: LocalChain) -> Web3:
    return Web3(Web3.HTTPProvider(bsc_like.url))


@pytest.fixture
def deployments(tmp_path: Path) -> Path:
    return tmp_path / "deployments"


class Operator:
    """Runs the ape scripts with a clean TASKESCROW_* environment pointed at one chain and one records folder."""

    def __init__(self, url: str, deployments: Path) -> None:
        self.url = url
        self.deployments = deployments

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKESCROW_")}
        env.update(APE_FOUNDRY_HOST=self.url, TASKESCROW_DEPLOYMENTS_DIR=str(self.deployments), **extra)
        return env

    def run(
        self, script: str, *args: str, network: str = "ethereum:local:foundry", **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [APE, "run", script, *args, "--network", network],
            cwd=ROOT,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def ok(self, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = self.run(script, *args, **env)
        assert result.returncode == 0, f"ape run {script} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def fails(self, script: str, *args: str, **env: str) -> str:
        result = self.run(script, *args, **env)
        assert result.returncode != 0, f"ape run {script} should have failed:\n{result.stdout}"
        return result.stdout + result.stderr  # click reports on stderr, ape's own errors go to stdout

    def record(self, chain_id: int = 97) -> dict[str, Any]:
        return json.loads((self.deployments / f"{chain_id}.json").read_text())


@pytest.fixture
def operator(bsc_like: LocalChain, deployments: Path) -> Operator:
    return Operator(bsc_like.url, deployments)


@pytest.fixture(scope="module")
def deployed(bsc_like: LocalChain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One default deployment made by the script, shared by the tests that only need *a* recorded escrow."""
    first = Operator(bsc_like.url, tmp_path_factory.mktemp("shared") / "deployments")
    first.ok("deploy")
    return first.record()


def seed(operator: Operator, record: dict[str, Any]) -> dict[str, Any]:
    """Put a copy of ``record`` in the operator's deployments folder, as if it had deployed it."""
    operator.deployments.mkdir(parents=True, exist_ok=True)
    (operator.deployments / f"{record['chain_id']}.json").write_text(json.dumps(record, indent=2))
    return dict(record)


def json_of(stdout: str) -> Any:
    """The JSON document a script printed (ape may log a line such as "Connecting to …" before it)."""
    return json.loads(stdout[stdout.index("{") :])


def escrow_at(w3: Web3, address: str) -> Any:
    return w3.eth.contract(address=to_checksum_address(address), abi=ESCROW_ABI)


def test_deploy_on_chain_97_records_the_deployment_and_configures_roles_tokens_and_timings(
    operator: Operator, w3: Web3, tmp_path: Path
) -> None:
    config = tmp_path / "deploy.toml"
    config.write_text(
        f'admin = "{DEPLOYER}"\nfee_recipient = "{FEES}"\nresponse_window = "12h"\nreview_period = "2d"\n'
        f'serious_delay = 1000\nquote_signers = ["{SIGNER}"]\narbiters = ["{ARBITER}"]\n'
    )
    # The environment overrides the file.
    operator.ok("deploy", "--config", str(config), "--mock-token", TASKESCROW_SERIOUS_DELAY="36h")

    record = operator.record()
    escrow = escrow_at(w3, record["address"])
    receipt = w3.eth.get_transaction_receipt(record["tx_hash"])
    assert receipt["contractAddress"] == record["address"]
    assert receipt["blockNumber"] == record["block_number"]
    assert w3.eth.get_block(record["block_number"])["timestamp"] == record["block_timestamp"]
    assert record["chain_id"] == 97 == w3.eth.chain_id
    assert record["runtime_code_hash"] == "0x" + keccak(bytes(w3.eth.get_code(record["address"]))).hex()
    assert record["deployer"] == DEPLOYER
    assert record["constructor_args"] == {
        "admin": DEPLOYER,
        "feeRecipient": FEES,
        "responseWindow": 12 * 3600,
        "reviewPeriod": 2 * 86400,
        "seriousDelay": 36 * 3600,
    }
    assert escrow.functions.responseWindow().call() == 12 * 3600
    assert escrow.functions.reviewPeriod().call() == 2 * 86400
    assert escrow.functions.seriousDelay().call() == 36 * 3600
    assert escrow.functions.feeRecipient().call() == FEES == record["fee_recipient"]
    assert record["roles"] == {
        "DEFAULT_ADMIN_ROLE": [DEPLOYER],
        "QUOTE_SIGNER_ROLE": [SIGNER],
        "ARBITER_ROLE": [ARBITER],
    }
    assert escrow.functions.hasRole(ZERO_ROLE, DEPLOYER).call()
    assert escrow.functions.hasRole(QUOTE_SIGNER_ROLE, SIGNER).call()
    assert escrow.functions.hasRole(ARBITER_ROLE, ARBITER).call()
    assert not escrow.functions.hasRole(ARBITER_ROLE, SIGNER).call()
    mock = record["mock_token"]
    assert record["tokens"] == [mock]
    assert escrow.functions.allowedTokens(mock).call()
    assert escrow_at(w3, mock).functions.symbol().call() == "USDT"
    assert record["paused"] is False
    compiler = record["compiler"]
    assert compiler["version"].startswith("0.8.28")
    assert compiler["evm_version"] == "cancun"
    assert compiler["optimizer"] == {"enabled": True, "runs": 200}
    assert record["network"] == "ethereum:local:foundry"
    assert record["previous"] == []


def test_deploy_hands_the_admin_role_to_a_multisig_that_is_not_the_deployer(operator: Operator, w3: Web3) -> None:
    operator.ok("deploy", TASKESCROW_ADMIN=MULTISIG, TASKESCROW_QUOTE_SIGNERS=f"{SIGNER},{OTHER}")

    record = operator.record()
    escrow = escrow_at(w3, record["address"])
    assert escrow.functions.hasRole(ZERO_ROLE, MULTISIG).call()
    assert not escrow.functions.hasRole(ZERO_ROLE, DEPLOYER).call()
    assert escrow.functions.hasRole(QUOTE_SIGNER_ROLE, OTHER).call()
    assert record["admin"] == MULTISIG
    assert record["roles"]["DEFAULT_ADMIN_ROLE"] == [MULTISIG]
    assert record["roles"]["QUOTE_SIGNER_ROLE"] == [SIGNER, OTHER]
    # The fee recipient defaults to the admin on a local chain; the deployer is the constructor's admin.
    assert record["fee_recipient"] == MULTISIG
    assert record["constructor_args"]["admin"] == DEPLOYER
    # The old admin can no longer administer; the multisig can.
    assert "does not hold DEFAULT_ADMIN_ROLE" in operator.fails("roles", "pause")
    operator.ok("roles", "pause", "--account", "TEST::9")
    assert escrow.functions.paused().call()


def test_deploy_refuses_a_second_deployment_on_a_chain_whose_recorded_escrow_has_code(
    operator: Operator, deployed: dict[str, Any]
) -> None:
    first = seed(operator, deployed)

    error = operator.fails("deploy")

    assert first["address"] in error
    assert "--force" in error and "TASKESCROW_FORCE_REDEPLOY" in error
    assert operator.record() == first


def test_deploy_with_force_replaces_the_record_and_remembers_the_previous_escrow(
    operator: Operator, w3: Web3, deployed: dict[str, Any]
) -> None:
    first = seed(operator, deployed)

    operator.ok("deploy", "--force")
    second = operator.record()
    operator.ok("deploy", TASKESCROW_FORCE_REDEPLOY="1")
    third = operator.record()

    assert len({first["address"], second["address"], third["address"]}) == 3
    assert [p["address"] for p in third["previous"]] == [first["address"], second["address"]]
    assert third["previous"][0]["tx_hash"] == first["tx_hash"]
    assert w3.eth.get_code(third["address"])


def test_deploy_over_a_record_whose_escrow_has_no_code_deploys_anew(
    operator: Operator, w3: Web3, deployed: dict[str, Any]
) -> None:
    stale = "0x000000000000000000000000000000000000dEaD"
    assert deployed["genesis_hash"] == w3.eth.get_block(0)["hash"].to_0x_hex()
    seed(operator, {**deployed, "address": stale})

    operator.ok("deploy")

    fresh = operator.record()
    assert fresh["address"] != stale
    assert w3.eth.get_code(fresh["address"])
    assert fresh["previous"][-1]["address"] == stale


def test_deploy_never_overwrites_the_record_of_another_chain_with_the_same_chain_id(
    operator: Operator, deployed: dict[str, Any]
) -> None:
    # the real BSC testnet's record, say
    testnet = seed(operator, {**deployed, "network": "bsc:testnet:node", "genesis_hash": "0x" + "6d" * 32})

    error = operator.fails("deploy")

    assert "records a deployment on another chain with id 97 (bsc:testnet:node" in error
    assert "TASKESCROW_DEPLOYMENTS_DIR" in error
    assert operator.record() == testnet
    assert "another chain with id 97" in operator.fails("roles", "pause")


def test_deploy_names_the_setting_that_is_wrong_and_deploys_nothing(operator: Operator) -> None:
    token_without_code = "0x1111111111111111111111111111111111111111"
    error = operator.fails("deploy", TASKESCROW_TOKENS=token_without_code, TASKESCROW_REVIEW_PERIOD="3d")
    assert f"token {token_without_code} has no code on chain 97" in error
    assert "TASKESCROW_REVIEW_PERIOD" in operator.fails("deploy", TASKESCROW_REVIEW_PERIOD="3 days")
    assert not (operator.deployments / "97.json").exists()


def test_roles_script_grants_revokes_allows_tokens_sets_the_fee_recipient_and_pauses(
    operator: Operator, w3: Web3
) -> None:
    operator.ok("deploy", "--mock-token")
    record = operator.record()
    escrow = escrow_at(w3, record["address"])
    mock = record["mock_token"]

    operator.ok("roles", "grant", "quote-signer", OTHER)
    operator.ok("roles", "disallow-token", mock)
    operator.ok("roles", "set-fee-recipient", FEES)
    operator.ok("roles", "pause")

    assert escrow.functions.hasRole(QUOTE_SIGNER_ROLE, OTHER).call()
    assert not escrow.functions.allowedTokens(mock).call()
    assert escrow.functions.feeRecipient().call() == FEES
    assert escrow.functions.paused().call()
    record = operator.record()
    assert record["roles"]["QUOTE_SIGNER_ROLE"] == [OTHER]
    assert record["tokens"] == []
    assert record["fee_recipient"] == FEES
    assert record["paused"] is True

    operator.ok("roles", "revoke", "quote-signer", OTHER)
    operator.ok("roles", "allow-token", mock)
    operator.ok("roles", "unpause")

    assert not escrow.functions.hasRole(QUOTE_SIGNER_ROLE, OTHER).call()
    assert escrow.functions.allowedTokens(mock).call()
    assert not escrow.functions.paused().call()
    record = operator.record()
    assert record["roles"]["QUOTE_SIGNER_ROLE"] == []
    assert record["tokens"] == [mock]
    assert record["paused"] is False


def test_roles_script_refuses_chains_without_a_record_and_senders_without_the_admin_role(
    operator: Operator, deployed: dict[str, Any]
) -> None:
    assert "no deployment recorded for chain 97" in operator.fails("roles", "pause")
    seed(operator, deployed)
    error = operator.fails("roles", "grant", "arbiter", OTHER, "--account", "TEST::4")
    assert f"{OTHER} does not hold DEFAULT_ADMIN_ROLE" in error


def test_bsc_testnet_node_takes_its_rpc_url_from_the_environment(
    operator: Operator, bsc_like: LocalChain, deployed: dict[str, Any]
) -> None:
    seed(operator, deployed)
    # anvil with chain id 97 stands in for the BSC testnet endpoint: ape connects to it as bsc:testnet:node.
    shown = operator.run("roles", "show", network="bsc:testnet:node", TASKESCROW_BSC_TESTNET_RPC_URL=bsc_like.url)
    assert shown.returncode == 0, shown.stderr
    assert json_of(shown.stdout) == operator.record()
    # A live network needs an explicit deployer, admin and fee recipient; nothing is sent without them.
    live = operator.run("deploy", "--force", network="bsc:testnet:node", TASKESCROW_BSC_TESTNET_RPC_URL=bsc_like.url)
    assert live.returncode != 0 and "TASKESCROW_DEPLOYER" in live.stderr
    unset = operator.run("roles", "show", network="bsc:testnet:node")
    assert unset.returncode != 0 and "Invalid uri: ${TASKESCROW_BSC_TESTNET_RPC_URL}" in unset.stdout

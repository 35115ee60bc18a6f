"""Gas per escrow operation, measured on anvil from transaction receipts (``make bench-gas``).

Every operation is measured on a *warm second order*: the whole scenario runs once with the same parties and
refs of round 1, then again with refs of round 2, and round 2 is what counts. Between the rounds nobody
withdraws, so the client's, the freelancer's and the fee recipient's credits, the escrow's token balance, the
client's nonce and the freelancer's reputation are already nonzero when round 2 writes them -- as on a platform
that has been running for a while. Withdrawals come last in round 2.

Keys, order refs, amounts, quote expiries, signature deadlines and the 12 s between blocks are fixed, so the
numbers are reproducible.

    python -m benchmarks.gas                    # print, write benchmarks/results/gas.json
    python -m benchmarks.gas --update-snapshot  # also overwrite benchmarks/gas-snapshot.json (commit it)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import keccak
from rich.console import Console
from rich.table import Table
from web3 import Web3
from web3.contract import Contract

from offchain import toolchain
from offchain.eip712 import (
    Action,
    Domain,
    OrderTerms,
    PartyAction,
    action_digest,
    fund_consent,
    sign_digest,
    terms_digest,
)
from offchain.localchain import DEFAULT_MNEMONIC, LocalChain

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "gas.json"
SNAPSHOT = HERE / "gas-snapshot.json"

#: The keys of gas.json, in the order of an order's life.
OPERATIONS: tuple[str, ...] = (
    "fund_native",
    "fund_erc20",
    "fund_with_sig",
    "cancel",
    "submit_requirements",
    "deliver",
    "accept",
    "finalize",
    "request_revision",
    "acknowledge_revision",
    "request_refund",
    "accept_refund",
    "refuse_refund",
    "open_dispute",
    "resolve_dispute",
    "review",
    "withdraw_native",
    "withdraw_erc20",
    "signed_accept",
    "happy_path_native",
    "money_path_native",
)

#: Upper bounds the contract must stay under.
TARGETS: dict[str, int] = {
    "fund_native": 110_000,
    "fund_erc20": 135_000,
    "accept": 55_000,
    "submit_requirements": 40_000,
    "deliver": 40_000,
    "withdraw_native": 35_000,
    "money_path_native": 191_000,
}

#: Published numbers of comparable escrows, for reference: (contract, operation, gas, our comparable key).
COMPETITORS: tuple[tuple[str, str, int, str], ...] = (
    ("Kleros EscrowUniversal", "createNativeTransaction", 127_036, "fund_native"),
    ("Kleros EscrowUniversal", "createERC20Transaction", 165_439, "fund_erc20"),
    ("Kleros EscrowUniversal", "pay", 63_968, "accept"),
    ("Base AuthCaptureEscrow", "preApprove + authorize", 57_491 + 89_245, "fund_erc20"),
)

#: How far above its snapshot an operation may go before the snapshot test fails.
SNAPSHOT_TOLERANCE = 0.02

NATIVE = "0x0000000000000000000000000000000000000000"
AMOUNT = 10**18
FEE_BPS = 1_000
DELIVERY = 5 * 86_400
RESPONSE_WINDOW = 24 * 3_600
REVIEW_PERIOD = 3 * 86_400
SERIOUS_DELAY = 48 * 3_600
QUOTE_EXPIRY = 4_000_000_000  # fixed, far in the future: the same calldata every run
SIG_DEADLINE = 4_000_000_000


def _key(index: int) -> Any:
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


@dataclass(frozen=True)
class Artifact:
    abi: list[dict[str, Any]]
    bytecode: str


def load_artifacts(names: tuple[str, ...] = ("OrderEscrow", "MockERC20")) -> dict[str, Artifact]:
    """ABI and creation bytecode as ``ape compile`` builds them (compiling first if the sources changed)."""
    toolchain.activate()
    from ape import Project

    project = Project(toolchain.ROOT)
    artifacts = {}
    for name in names:
        contract_type = project.get_contract(name).contract_type
        bytecode = contract_type.deployment_bytecode.bytecode if contract_type.deployment_bytecode else None
        if not bytecode:
            raise RuntimeError(f"{name} has no bytecode: does `ape compile` succeed?")
        artifacts[name] = Artifact(
            [item.model_dump(by_alias=True, mode="json") for item in contract_type.abi], bytecode
        )
    return artifacts


class Bench:
    """One deployment on a fresh anvil, the parties, and a receipt-gas recorder."""

    def __init__(self, w3: Web3, artifacts: dict[str, Artifact]) -> None:
        self.w3 = w3
        # Every block 12 s after the previous one, whatever the wall clock says: a write of a deadline costs less
        # when it happens to equal the stored one, so wall-clock timing would make the numbers jitter.
        w3.provider.make_request("anvil_setBlockTimestampInterval", [12])  # type: ignore[arg-type]
        self.admin, self.quote_signer, self.arbiter, self.fee_recipient = (_key(i) for i in range(4))
        self.client, self.freelancer, self.keeper = _key(4), _key(5), _key(7)
        escrow = artifacts["OrderEscrow"]
        token = artifacts["MockERC20"]
        self.escrow = self._deploy(
            escrow, self.admin.address, self.fee_recipient.address, RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY
        )
        self.token = self._deploy(token, "Tether USD", "USDT")
        self.domain = Domain(w3.eth.chain_id, self.escrow.address)
        e = self.escrow.functions
        self.send(e.grantRole(keccak(text="QUOTE_SIGNER_ROLE"), self.quote_signer.address), self.admin)
        self.send(e.grantRole(keccak(text="ARBITER_ROLE"), self.arbiter.address), self.admin)
        self.send(e.setTokenAllowed(self.token.address, True), self.admin)
        self.send(self.token.functions.mint(self.client.address, 10**24), self.admin)
        # The freelancer already holds some of the token, as it would after its first payout.
        self.send(self.token.functions.mint(self.freelancer.address, 10**18), self.admin)
        self.send(self.token.functions.approve(self.escrow.address, 2**256 - 1), self.client)

    def _deploy(self, artifact: Artifact, *args: Any) -> Contract:
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        tx_hash = factory.constructor(*args).transact({"from": self.admin.address})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)

    def send(self, call: Any, sender: Any, value: int = 0) -> int:
        """Send through anvil's unlocked account; return the receipt's gasUsed (and fail loudly on a revert)."""
        tx_hash = call.transact({"from": sender.address, "value": value})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise RuntimeError(f"{call.fn_name} reverted in the benchmark (tx {tx_hash.hex()})")
        return int(receipt["gasUsed"])

    def later(self, seconds: int) -> None:
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        self.w3.provider.make_request("evm_mine", [now + seconds])  # type: ignore[arg-type]

    # -- orders --

    def terms(self, name: str, round_: int, token: str = NATIVE) -> OrderTerms:
        return OrderTerms(
            orderRef=keccak(text=f"taskescrow-bench/{round_}/{name}"),
            client=self.client.address,
            freelancer=self.freelancer.address,
            token=token,
            amount=AMOUNT,
            feeBps=FEE_BPS,
            deliveryDuration=DELIVERY,
            maxRevisions=2,
            quoteExpiry=QUOTE_EXPIRY,
        )

    def fund(self, terms: OrderTerms) -> int:
        quote = sign_digest(self.quote_signer.key, terms_digest(self.domain, terms))
        value = terms.amount if terms.token == NATIVE else 0
        return self.send(self.escrow.functions.fund(terms.as_tuple(), quote), self.client, value)

    def started(self, name: str, round_: int, token: str = NATIVE) -> bytes:
        terms = self.terms(name, round_, token)
        self.fund(terms)
        self.send(self.escrow.functions.submitRequirements(terms.orderRef, keccak(text="requirements")), self.client)
        return terms.orderRef

    def delivered(self, name: str, round_: int, token: str = NATIVE) -> bytes:
        ref = self.started(name, round_, token)
        self.send(self.escrow.functions.deliver(ref, keccak(text="deliverable")), self.freelancer)
        return ref


def run_round(bench: Bench, round_: int) -> dict[str, int]:
    """Every scenario once; the gas of each measured operation of this round."""
    e = bench.escrow.functions
    c, f, k = bench.client, bench.freelancer, bench.keeper
    gas: dict[str, int] = {}
    why = keccak(text="reason")

    # happy path, native: fund, requirements, delivery, acceptance (the withdrawal comes at the end)
    terms = bench.terms("happy", round_)
    gas["fund_native"] = bench.fund(terms)
    ref = terms.orderRef
    gas["submit_requirements"] = bench.send(e.submitRequirements(ref, keccak(text="requirements")), c)
    gas["deliver"] = bench.send(e.deliver(ref, keccak(text="deliverable")), f)
    gas["accept"] = bench.send(e.accept(ref), c)
    gas["review"] = bench.send(e.review(ref, 5, keccak(text="great work")), c)

    # BEP-20: funded by the client, and funded for the client by a relayer with the client's consent
    erc20 = bench.terms("erc20", round_, bench.token.address)
    gas["fund_erc20"] = bench.fund(erc20)
    bench.send(e.submitRequirements(erc20.orderRef, keccak(text="requirements")), c)
    bench.send(e.deliver(erc20.orderRef, keccak(text="deliverable")), f)
    bench.send(e.accept(erc20.orderRef), c)
    by_sig = bench.terms("fund-with-sig", round_, bench.token.address)
    quote = sign_digest(bench.quote_signer.key, terms_digest(bench.domain, by_sig))
    consent = sign_digest(c.key, action_digest(bench.domain, fund_consent(by_sig)))
    gas["fund_with_sig"] = bench.send(e.fundWithSig(by_sig.as_tuple(), quote, consent), k)

    cancelled = bench.terms("cancel", round_)
    bench.fund(cancelled)
    gas["cancel"] = bench.send(e.cancel(cancelled.orderRef), c)

    ref = bench.delivered("revision", round_)
    gas["request_revision"] = bench.send(e.requestRevision(ref, why), c)
    gas["acknowledge_revision"] = bench.send(e.acknowledgeRevision(ref), f)

    ref = bench.delivered("refund-accepted", round_)
    gas["request_refund"] = bench.send(e.requestRefund(ref, why), c)
    gas["accept_refund"] = bench.send(e.acceptRefund(ref), f)

    ref = bench.delivered("refund-refused", round_)
    bench.send(e.requestRefund(ref, why), c)
    gas["refuse_refund"] = bench.send(e.refuseRefund(ref), f)

    ref = bench.delivered("dispute", round_)
    gas["open_dispute"] = bench.send(e.openDispute(ref, why), c)
    gas["resolve_dispute"] = bench.send(e.resolveDispute(ref, 5_000), bench.arbiter)

    ref = bench.delivered("signed-accept", round_)
    nonce = e.nonces(c.address).call()
    action = PartyAction(c.address, Action.ACCEPT, ref, b"", nonce, SIG_DEADLINE)
    signature = sign_digest(c.key, action_digest(bench.domain, action))
    gas["signed_accept"] = bench.send(e.executeWithSig(action.as_tuple(), signature), k)

    ref = bench.delivered("finalize", round_)
    bench.later(REVIEW_PERIOD + 1)
    gas["finalize"] = bench.send(e.finalize(ref), k)
    return gas


def measure(url: str, artifacts: dict[str, Artifact] | None = None) -> dict[str, int]:
    """Deploy on the anvil at ``url``, run the warm-up round and the measured round; gas per operation."""
    w3 = Web3(Web3.HTTPProvider(url))
    bench = Bench(w3, artifacts or load_artifacts())
    run_round(bench, 1)  # warm-up: nobody withdraws, so every balance round 2 credits is already nonzero
    gas = run_round(bench, 2)
    e = bench.escrow.functions
    gas["withdraw_native"] = bench.send(e.withdraw(NATIVE), bench.freelancer)
    gas["withdraw_erc20"] = bench.send(e.withdraw(bench.token.address), bench.freelancer)
    gas["happy_path_native"] = sum(
        gas[k] for k in ("fund_native", "submit_requirements", "deliver", "accept", "withdraw_native")
    )
    gas["money_path_native"] = gas["fund_native"] + gas["accept"] + gas["withdraw_native"]
    return {key: gas[key] for key in OPERATIONS}


def run_measurement() -> dict[str, int]:
    """The numbers, on a throw-away anvil of their own."""
    artifacts = load_artifacts()
    with LocalChain(chain_id=97) as chain:
        return measure(chain.url, artifacts)


# ==== CHECKS AND REPORT ====


def over_target(gas: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Operations above their target: name -> (gas, target)."""
    return {k: (gas[k], t) for k, t in TARGETS.items() if gas[k] > t}


def over_snapshot(gas: dict[str, int], snapshot: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Operations more than SNAPSHOT_TOLERANCE above the snapshot: name -> (gas, snapshot)."""
    return {
        k: (gas[k], snapshot[k])
        for k in OPERATIONS
        if k in snapshot and gas[k] > snapshot[k] * (1 + SNAPSHOT_TOLERANCE)
    }


def load_snapshot(path: Path = SNAPSHOT) -> dict[str, int]:
    return {k: int(v) for k, v in json.loads(path.read_text()).items()}


def write_json(path: Path, gas: dict[str, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gas, indent=2) + "\n")


def report(gas: dict[str, int], snapshot: dict[str, int] | None, console: Console) -> None:
    table = Table(title="OrderEscrow gas per operation (warm second order, receipt gasUsed)")
    table.add_column("operation")
    table.add_column("gas", justify="right")
    table.add_column("target", justify="right")
    table.add_column("snapshot", justify="right")
    table.add_column("", justify="left")
    for key in OPERATIONS:
        target = TARGETS.get(key)
        snap = (snapshot or {}).get(key)
        verdict = ""
        if target is not None:
            verdict = "[green]within target[/]" if gas[key] <= target else f"[red]{gas[key] - target:+,} over target[/]"
        if snap is not None and gas[key] != snap:
            verdict += f" [dim]({(gas[key] - snap) / snap:+.1%} vs snapshot)[/]"
        table.add_row(
            key, f"{gas[key]:,}", f"≤ {target:,}" if target else "", f"{snap:,}" if snap is not None else "", verdict
        )
    console.print(table)
    others = Table(title="For reference: comparable escrows")
    others.add_column("contract")
    others.add_column("operation")
    others.add_column("gas", justify="right")
    others.add_column("ours", justify="right")
    for contract, operation, their_gas, ours in COMPETITORS:
        others.add_row(contract, operation, f"{their_gas:,}", f"{gas[ours]:,} ({ours})")
    console.print(others)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--update-snapshot", action="store_true", help=f"also write {SNAPSHOT.relative_to(HERE.parent)}"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON (default %(default)s)")
    args = parser.parse_args(argv)
    console = Console()
    gas = run_measurement()
    write_json(args.output, gas)
    snapshot = load_snapshot() if SNAPSHOT.is_file() else None
    report(gas, snapshot, console)
    console.print(f"wrote {args.output}")
    if args.update_snapshot:
        write_json(SNAPSHOT, gas)
        console.print(f"[bold]updated {SNAPSHOT}[/]: commit it with the change that moved the numbers")
    over = over_target(gas)
    for key, (used, target) in over.items():
        console.print(f"[red]{key} uses {used:,} gas, above its target of {target:,}[/]")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())

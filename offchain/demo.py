"""``make demo``: a whole marketplace, played through the relayer's HTTP API as a platform backend would.

It starts anvil with BSC testnet's chain id (97), deploys with ``ape run deploy``, starts the relayer on SQLite
with fresh keystores and API keys, starts a webhook receiver standing in for the backend, and then drives orders
along every path of the marketplace's order-flow article -- only through the relayer's API and the users' wallet
signatures (EIP-712). Time moves with anvil's clock, never by sleeping for it. At the end it prints every order's
path, final status, delivery history and payouts, the webhooks the backend received, and a reconciliation:

- for each token, the escrow's balance equals the money locked in live orders plus every withdrawable credit
  (checked before the withdrawals, and again after them);
- for every account, the payments the API reports equal the account's balance change on the chain.

It exits 0 only if every order reached the status its path leads to and the books balance, and it stops
everything it started, also on Ctrl-C. ``--quiet`` prints the summary only (the test suite runs it that way).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.live import Live
from rich.table import Table
from web3 import Web3

from offchain import toolchain
from offchain.client import RelayerClient, RelayerHTTPError
from offchain.eip712 import (
    Action,
    Domain,
    OrderTerms,
    PartyAction,
    action_digest,
    encode_args,
    fund_consent,
    settlement_digest,
    sign_digest,
)
from offchain.localchain import DEFAULT_MNEMONIC, LocalChain, free_port

NATIVE = "0x0000000000000000000000000000000000000000"
HOUR = 3_600
DAY = 86_400
DELIVERY = 2 * DAY
FEE_BPS = 1_000
BNB = 10**18
ESCROW_ABI_NAMES = ("fund", "withdraw", "getOrder", "withdrawable", "nonces")
ERC20_ABI = [
    {"name": "approve", "type": "function", "stateMutability": "nonpayable",
     "inputs": [{"name": "spender", "type": "address"}, {"name": "amount", "type": "uint256"}],
     "outputs": [{"name": "", "type": "bool"}]},
    {"name": "balanceOf", "type": "function", "stateMutability": "view",
     "inputs": [{"name": "account", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]},
    {"name": "mint", "type": "function", "stateMutability": "nonpayable",
     "inputs": [{"name": "to", "type": "address"}, {"name": "amount", "type": "uint256"}], "outputs": []},
]  # fmt: skip


class DemoError(RuntimeError):
    """Something the demo expected did not happen; the message says what."""


# -- the marketplace's paths -----------------------------------------------------------------------------------

# A step is (who, what, *arguments). who: "client" | "freelancer" | "arbiter" | "both" (a settlement) | "time"
# (move anvil's clock to a deadline of the order) | "keeper" (wait for the relayer's keeper to act).


@dataclass
class Plan:
    name: str
    token: str  # "BNB" | "USDT"
    steps: list[tuple[Any, ...]]
    expect: str  # the final status
    amount: int = BNB
    max_revisions: int = 2


def plans() -> list[Plan]:
    review = ("client", "REVIEW", 5), ("freelancer", "REVIEW", 5)
    return [
        Plan("cancelled by the client before requirements", "BNB", [("client", "CANCEL")], "Cancelled"),
        Plan("declined by the freelancer", "USDT", [("freelancer", "CANCEL")], "Cancelled"),
        Plan(
            "delivered on time, accepted, reviewed both ways",
            "BNB",
            [("client", "SUBMIT_REQUIREMENTS"), ("freelancer", "DELIVER"), ("client", "ACCEPT"), *review],
            "Completed",
        ),
        Plan(
            "delivered overdue, accepted; a 3-star review and the freelancer's reply",
            "USDT",
            [
                ("client", "SUBMIT_REQUIREMENTS"),
                ("time", "pastDeliverBy"),
                ("freelancer", "DELIVER"),
                ("client", "ACCEPT"),
                ("client", "REVIEW", 3),
                ("freelancer", "REPLY_TO_REVIEW"),
                ("freelancer", "REVIEW", 4),
            ],
            "Completed",
        ),
        Plan(
            "seriously overdue delivery: the client refunds directly",
            "BNB",
            [
                ("client", "SUBMIT_REQUIREMENTS"),
                ("time", "pastSerious"),
                ("freelancer", "DELIVER"),
                ("client", "REFUND_OVERDUE"),
            ],
            "Refunded",
        ),
        Plan(
            "never delivered: refunded once seriously overdue",
            "USDT",
            [("client", "SUBMIT_REQUIREMENTS"), ("time", "pastSerious"), ("client", "REFUND_OVERDUE")],
            "Refunded",
        ),
        Plan(
            "revision requested and acknowledged within 24 h, new date agreed",
            "BNB",
            [
                ("client", "SUBMIT_REQUIREMENTS"),
                ("freelancer", "DELIVER"),
                ("client", "REQUEST_REVISION"),
                ("freelancer", "ACKNOWLEDGE_REVISION"),
                ("freelancer", "PROPOSE_DEADLINE", 4 * DAY),
                ("client", "AGREE_DEADLINE"),
                ("freelancer", "DELIVER"),
                ("client", "ACCEPT"),
                *review,
            ],
            "Completed",
        ),
        Plan(
            "revision started by the keeper after 24 h of silence",
            "USDT",
            [
                ("client", "SUBMIT_REQUIREMENTS"),
                ("freelancer", "DELIVER"),
                ("client", "REQUEST_REVISION"),
                ("time", "pastRespondBy"),
                ("keeper", "InRevision"),
                ("freelancer", "DELIVER"),
                ("client", "ACCEPT"),
            ],
            "Completed",
        ),
        Plan(
            "refund requested and accepted",
            "BNB",
            [
                ("client", "SUBMIT_REQUIREMENTS"),
                ("freelancer", "DELIVER"),
                ("client", "REQUEST_REFUND"),
                ("freelancer", "ACCEPT_REFUND"),
            ],
            "Refunded",
        ),
        Plan(
            "refund refused twice, escalated on the third refusal, ruled by the arbiter (70/30)",
            "USDT",
            [
                ("client", "SUBMIT_REQUIREMENTS"),
                ("freelancer", "DELIVER"),
                ("client", "REQUEST_REFUND"),
                ("freelancer", "REFUSE_REFUND"),
                ("client", "REQUEST_REFUND"),
                ("freelancer", "REFUSE_REFUND"),
                ("client", "REQUEST_REFUND"),
                ("freelancer", "REFUSE_REFUND"),
                ("arbiter", 7_000),
                ("client", "REVIEW", 2),
                ("freelancer", "REPLY_TO_REVIEW"),
            ],
            "Resolved",
        ),
        Plan(
            "dispute opened by the client, settled by both parties (50/50)",
            "BNB",
            [
                ("client", "SUBMIT_REQUIREMENTS"),
                ("freelancer", "DELIVER"),
                ("client", "OPEN_DISPUTE"),
                ("both", 5_000),
            ],
            "Resolved",
        ),
        Plan(
            "client silent after delivery: auto-completed by the keeper",
            "BNB",
            [
                ("client", "SUBMIT_REQUIREMENTS"),
                ("freelancer", "DELIVER"),
                ("time", "pastReviewBy"),
                ("keeper", "Completed"),
                ("freelancer", "REVIEW", 5),
            ],
            "Completed",
        ),
        Plan(
            "freelancer silent on a refund request: the client claims it",
            "USDT",
            [
                ("client", "SUBMIT_REQUIREMENTS"),
                ("freelancer", "DELIVER"),
                ("client", "REQUEST_REFUND"),
                ("time", "pastRespondBy"),
                ("client", "CLAIM_REFUND"),
            ],
            "Refunded",
        ),
    ]


# -- the pieces the demo starts --------------------------------------------------------------------------------


@dataclass
class Receiver:
    """The backend's webhook endpoint: verifies every signature and records every event."""

    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    events: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    duplicates: int = 0
    server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        from offchain.relayer.index.webhooks import SIGNATURE_HEADER, verify_signature

        receiver = self
        seen: set[str] = set()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = verify_signature(receiver.secret, self.headers.get(SIGNATURE_HEADER, ""), body)
                with lock:
                    if not ok:
                        receiver.bad_signatures += 1
                    else:
                        event = json.loads(body)
                        if event["id"] in seen:
                            receiver.duplicates += 1
                        else:
                            seen.add(event["id"])
                            receiver.events.append(event)
                self.send_response(200 if ok else 401)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:  # the demo prints its own report
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def by_order(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for event in self.events:
            if event.get("ref"):
                out[event["ref"].lower()].append(event["type"])
        return out


@dataclass
class Stack:
    """anvil (chain id 97), the deployed escrow, the relayer process and its keys; stopped in reverse order."""

    console: Console
    workdir: Path
    chain: LocalChain = field(default_factory=lambda: LocalChain(chain_id=97, accounts=20))
    relayer: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    escrow: str = ""
    token: str = ""
    deploy_block: int = 0
    api: dict[str, str] = field(default_factory=dict)
    relayer_url: str = ""

    def cli(self, *args: str, stdin: str | None = None) -> str:
        exe = Path(sys.executable).parent / "taskescrow"
        proc = subprocess.run([str(exe), *args], input=stdin, env=self.env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise DemoError(f"taskescrow {' '.join(args[:2])} failed: {proc.stderr.strip()[-800:]}")
        return proc.stdout.strip()

    def start(self, accounts: list[LocalAccount], relayer_keys: dict[str, LocalAccount]) -> None:
        self.chain.start()
        admin, fee_recipient = accounts[0], accounts[1]
        deployments = self.workdir / "deployments"
        deploy_env = {
            **os.environ,
            "APE_FOUNDRY_HOST": self.chain.url,
            "TASKESCROW_DEPLOYMENTS_DIR": str(deployments),
            "TASKESCROW_ADMIN": admin.address,
            "TASKESCROW_FEE_RECIPIENT": fee_recipient.address,
            "TASKESCROW_QUOTE_SIGNERS": relayer_keys["quote_signer"].address,
            "TASKESCROW_ARBITERS": relayer_keys["arbiter"].address,
            "TASKESCROW_MOCK_TOKEN": "1",
            "TASKESCROW_DEPLOYER": "TEST::0",
        }
        ape = Path(sys.executable).parent / "ape"
        proc = subprocess.run(
            [str(ape), "run", "deploy", "--network", "ethereum:local:foundry"],
            cwd=toolchain.ROOT,
            env=deploy_env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise DemoError(f"ape run deploy failed:\n{(proc.stdout + proc.stderr)[-2000:]}")
        record = json.loads((deployments / "97.json").read_text())
        self.escrow = record["address"]
        self.deploy_block = int(record["block_number"])
        self.token = next(iter(record.get("tokens") or [record.get("mock_token")]))
        self.console.print(
            f"[bold]deployed[/] OrderEscrow at {self.escrow} (block {self.deploy_block}), test USDT at {self.token}"
        )

        self.relayer_url = f"http://127.0.0.1:{free_port()}"
        self.env = {
            **os.environ,
            "TASKESCROW_DATABASE_URL": f"sqlite:///{self.workdir / 'relayer.sqlite'}",
            "TASKESCROW_RPC_URLS": self.chain.url,
            "TASKESCROW_CHAIN_ID": "97",
            "TASKESCROW_ESCROW_ADDRESS": self.escrow,
            "TASKESCROW_ARTIFACT_PATH": str(toolchain.ROOT / ".build" / "__local__.json"),
            "TASKESCROW_KEYSTORE_DIR": str(self.workdir / "keystores"),
            "TASKESCROW_KEYSTORE_PASSPHRASE": secrets.token_hex(16),
            "TASKESCROW_SENDER_ADDRESS": relayer_keys["sender"].address,
            "TASKESCROW_QUOTE_SIGNER_ADDRESS": relayer_keys["quote_signer"].address,
            "TASKESCROW_ARBITER_ADDRESS": relayer_keys["arbiter"].address,
            "TASKESCROW_CONFIRMATIONS": "1",
            "TASKESCROW_INDEX_START_BLOCK": str(self.deploy_block),
            "TASKESCROW_RUN_KEEPER": "1",
            "TASKESCROW_POLL_INTERVAL": "0.1",
            "TASKESCROW_PORT": self.relayer_url.rsplit(":", 1)[1],
            "TASKESCROW_LOG_LEVEL": "WARNING",
        }
        for key in relayer_keys.values():
            self.cli("keys", "import", stdin=key.key.hex() + "\n")
        self.cli("relayer", "migrate")
        for scope in ("backend", "arbiter", "admin"):
            self.api[scope] = self.cli("apikeys", "create", f"demo-{scope}", "--scope", scope).split()[-1]
        exe = Path(sys.executable).parent / "taskescrow"
        self.relayer = subprocess.Popen(
            [str(exe), "relayer", "serve"],
            env=self.env,
            stdout=open(self.workdir / "relayer.log", "wb"),  # noqa: SIM115 -- closed with the process
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.relayer.poll() is not None:
                raise DemoError(f"the relayer exited: {(self.workdir / 'relayer.log').read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.relayer_url}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)  # waiting for a process to listen, not for the chain
        else:
            raise DemoError("the relayer did not become ready within 60 s")
        self.console.print(f"[bold]relayer[/] ready at {self.relayer_url} (SQLite, keystores in {self.workdir})")

    def stop(self) -> None:
        if self.relayer is not None and self.relayer.poll() is None:
            self.relayer.terminate()
            try:
                self.relayer.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.relayer.kill()
        self.chain.stop()


# -- the marketplace -------------------------------------------------------------------------------------------


@dataclass
class Order:
    plan: Plan
    ref: bytes
    client: LocalAccount
    freelancer: LocalAccount
    token: str
    step: int = 0
    status: str = "—"
    note: str = ""
    done: bool = False

    @property
    def hex(self) -> str:
        return "0x" + self.ref.hex()

    def next_step(self) -> tuple[Any, ...] | None:
        return self.plan.steps[self.step] if self.step < len(self.plan.steps) else None


class Marketplace:
    """Plays the backend and the users' wallets: wallets sign, the backend calls the relayer."""

    def __init__(self, stack: Stack, accounts: list[LocalAccount], console: Console, quiet: bool) -> None:
        self.stack, self.console, self.quiet = stack, console, quiet
        self.w3 = Web3(Web3.HTTPProvider(stack.chain.url))
        artifact = json.loads((toolchain.ROOT / ".build" / "__local__.json").read_text())
        abi = artifact["contractTypes"]["OrderEscrow"]["abi"]
        self.escrow = self.w3.eth.contract(address=stack.escrow, abi=abi)
        self.usdt = self.w3.eth.contract(address=stack.token, abi=ERC20_ABI)
        self.domain = Domain(97, stack.escrow)
        self.backend = RelayerClient(stack.relayer_url, stack.api["backend"])
        self.arbiter = RelayerClient(stack.relayer_url, stack.api["arbiter"])
        self.admin = RelayerClient(stack.relayer_url, stack.api["admin"])
        self.admin_account, self.fee_recipient = accounts[0], accounts[1]
        self.clients, self.freelancers = accounts[2:8], accounts[8:14]
        self.gas_paid: Counter[str] = Counter()  # native spent on gas by each wallet
        self.withdrawals: Counter[str] = Counter()
        self.orders: list[Order] = []
        self.log: list[str] = []

    # -- wallets ---------------------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def send(self, account: LocalAccount, call: Any, value: int = 0) -> Any:
        """A wallet sends its own transaction (funding, approving, withdrawing) and pays its gas."""
        tx = call.build_transaction(
            {"from": account.address, "value": value, "nonce": self.w3.eth.get_transaction_count(account.address),
             "chainId": 97, "gasPrice": self.w3.eth.gas_price}
        )  # fmt: skip
        signed = account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        if receipt["status"] != 1:
            raise DemoError(f"{account.address[:10]}'s transaction reverted: {call.fn_name}")
        self.gas_paid[account.address] += receipt["gasUsed"] * receipt["effectiveGasPrice"]
        return receipt

    def balance(self, token: str, who: str) -> int:
        if token == NATIVE:
            return self.w3.eth.get_balance(who)
        return self.usdt.functions.balanceOf(who).call()

    # -- orders ----------------------------------------------------------------------------------------------

    def prepare_wallets(self) -> None:
        """Give every client test USDT and let the escrow pull it (a one-time approval, as a wallet would)."""
        for client in self.clients:
            self.send(self.admin_account, self.usdt.functions.mint(client.address, 100 * BNB))
            self.send(client, self.usdt.functions.approve(self.stack.escrow, 2**256 - 1))

    def open_orders(self) -> None:
        for i, plan in enumerate(plans()):
            token = NATIVE if plan.token == "BNB" else self.stack.token
            order = Order(plan, secrets.token_bytes(32), self.clients[i % 6], self.freelancers[(i * 5) % 6], token)
            quote = self.backend.quote(
                orderRef=order.hex, client=order.client.address, freelancer=order.freelancer.address, token=token,
                amount=plan.amount, feeBps=FEE_BPS, deliveryDuration=DELIVERY, maxRevisions=plan.max_revisions,
            )  # fmt: skip
            terms = OrderTerms(**{**quote["terms"], "orderRef": order.ref})
            if token == NATIVE:  # the client's wallet funds the order itself
                call = self.escrow.functions.fund(terms.as_tuple(), bytes.fromhex(quote["signature"][2:]))
                self.send(order.client, call, value=plan.amount)
            else:  # the wallet approved once; it signs its consent and the relayer pays the gas (fundWithSig)
                consent = sign_digest(order.client.key, action_digest(self.domain, fund_consent(terms)))
                job = self.backend.submit_funding(
                    quote["terms"], quote["signature"], "0x" + consent.hex(), idempotency_key=f"fund-{order.hex}"
                )
                self.wait_jobs([job.id])
            self.orders.append(order)
        self.refresh()

    def refresh(self) -> None:
        for order in self.orders:
            with contextlib.suppress(RelayerHTTPError):
                order.status = self.backend.order(order.hex)["status"]

    def wait_indexed(self, order: Order, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """Wait until the relayer's index shows ``predicate`` for the order (mining a block now and then)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(RelayerHTTPError):
                view = self.backend.order(order.hex)
                if predicate(view):
                    order.status = view["status"]
                    return view
            self.stack.chain.mine()  # new blocks carry the chain's time to the keeper and the watcher
            time.sleep(0.1)  # the relayer's poll interval; the chain does not move by itself
        raise DemoError(f"order {order.plan.name!r}: the index never showed {what}")

    def wait_jobs(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            job = self.backend.wait(job_id, timeout=60)
            if job.state != "confirmed":
                raise DemoError(f"job {job_id} ended {job.state}: {job.error} {job.error_reason}")

    def signed_action(self, order: Order, party: LocalAccount, action: Action, *args: Any) -> str:
        """The party's wallet signs; the backend hands the signature to the relayer."""
        message = PartyAction(
            party=party.address,
            action=action,
            orderRef=order.ref,
            args=encode_args(action, *args),
            nonce=self.escrow.functions.nonces(party.address).call(),
            deadline=self.now() + DAY,
        )
        signature = sign_digest(party.key, action_digest(self.domain, message))
        body = {
            "party": party.address, "action": action.name, "orderRef": order.hex, "args": "0x" + message.args.hex(),
            "nonce": message.nonce, "deadline": message.deadline, "signature": "0x" + signature.hex(),
        }  # fmt: skip
        key = f"{order.hex}-{order.step}-{action.name}"
        return self.backend.submit_action(body, idempotency_key=key).id

    def step_job(self, order: Order, step: tuple[Any, ...]) -> str | None:
        who, what, *rest = step
        if who == "arbiter":
            return self.arbiter.submit_ruling(order.hex, what, idempotency_key=f"ruling-{order.hex}").id
        if who == "both":
            client_sig = sign_digest(order.client.key, settlement_digest(self.domain, order.ref, what))
            freelancer_sig = sign_digest(order.freelancer.key, settlement_digest(self.domain, order.ref, what))
            return self.backend.submit_settlement(
                order.hex,
                what,
                "0x" + client_sig.hex(),
                "0x" + freelancer_sig.hex(),
                idempotency_key=f"settle-{order.hex}",
            ).id
        party = order.client if who == "client" else order.freelancer
        action = Action[what]
        if action in (Action.SUBMIT_REQUIREMENTS, Action.DELIVER, Action.REQUEST_REVISION, Action.REQUEST_REFUND,
                      Action.OPEN_DISPUTE, Action.REPLY_TO_REVIEW):  # fmt: skip
            args: tuple[Any, ...] = (secrets.token_bytes(32),)  # hash of the text / file kept by the platform
        elif action == Action.REVIEW:
            args = (rest[0], secrets.token_bytes(32))
        elif action == Action.PROPOSE_DEADLINE:
            args = (self.now() + rest[0],)
        elif action == Action.AGREE_DEADLINE:
            args = (self.backend.order(order.hex)["proposedDeliverBy"],)
        else:
            args = ()
        return self.signed_action(order, party, action, *args)

    def time_mark(self, order: Order, mark: str) -> int:
        view = self.backend.order(order.hex)
        return {
            "pastDeliverBy": view["deliverBy"] + 1,
            "pastSerious": view["deliverBy"] + 48 * HOUR + 1,
            "pastRespondBy": view["respondBy"] + 1,
            "pastReviewBy": view["reviewBy"] + 1,
        }[mark]

    def play(self, on_round: Callable[[], None]) -> None:
        """Advance every order as far as it can go, one action per party at a time, moving time when all wait."""
        while not all(o.done for o in self.orders):
            busy: set[str] = set()
            jobs: list[tuple[Order, str]] = []
            waiting_time: list[tuple[int, Order]] = []
            keeper: list[Order] = []
            for order in self.orders:
                step = order.next_step()
                if step is None:
                    order.done = True
                    continue
                who, what = step[0], step[1]
                if who == "time":
                    mark = self.time_mark(order, what)
                    if self.now() >= mark:
                        order.step += 1
                    else:
                        waiting_time.append((mark, order))
                    continue
                if who == "keeper":
                    keeper.append(order)
                    continue
                parties = {"client": [order.client], "freelancer": [order.freelancer],
                           "both": [order.client, order.freelancer], "arbiter": []}[who]  # fmt: skip
                if any(p.address in busy for p in parties):
                    continue
                busy.update(p.address for p in parties)
                jobs.append((order, self.step_job(order, step)))
            for order, job_id in jobs:
                self.wait_jobs([job_id])
                job = self.backend.job(job_id)
                block = max((a.block_number or 0) for a in job.attempts)
                self.wait_indexed(order, lambda v, b=block: v["updatedBlock"] >= b, f"the change of block {block}")
                order.note = f"{order.next_step()[0]} {order.next_step()[1]}"
                order.step += 1
            for order in keeper:
                want = order.next_step()[1]
                self.wait_indexed(order, lambda v, s=want: v["status"] == s, f"the keeper moving it to {want}")
                order.note = f"keeper -> {want}"
                order.step += 1
            if not jobs and not keeper and waiting_time:
                target = min(mark for mark, _ in waiting_time)
                self.stack.chain.rpc("evm_setNextBlockTimestamp", hex(target))
                self.stack.chain.mine()
            on_round()
        self.refresh()

    # -- money ---------------------------------------------------------------------------------------------

    def accounts(self) -> list[str]:
        return [a.address for a in (self.fee_recipient, *self.clients, *self.freelancers)]

    def solvency(self) -> list[tuple[str, int, int, int]]:
        """Per token: (token, escrow balance, locked in live orders, withdrawable credits)."""
        rows = []
        for label, token in (("BNB", NATIVE), ("USDT", self.stack.token)):
            held = self.balance(token, self.stack.escrow)
            locked = sum(o.plan.amount for o in self.orders if o.token == token and o.status not in FINAL)
            credits = sum(self.escrow.functions.withdrawable(token, who).call() for who in self.accounts())
            rows.append((label, held, locked, credits))
        return rows

    def withdraw_all(self) -> None:
        """Every account takes its whole balance out of the escrow (its own wallet transaction)."""
        for who in (self.fee_recipient, *self.clients, *self.freelancers):
            for token in (NATIVE, self.stack.token):
                if self.escrow.functions.withdrawable(token, who.address).call() > 0:
                    self.send(who, self.escrow.functions.withdraw(token))
                    self.withdrawals[who.address] += 1


FINAL = ("Completed", "Cancelled", "Refunded", "Resolved")


def status_table(orders: list[Order]) -> Table:
    table = Table(title="orders (live)", expand=False)
    for column in ("#", "path", "asset", "status", "last step"):
        table.add_column(column)
    for i, o in enumerate(orders, 1):
        colour = "green" if o.status in FINAL else "yellow"
        table.add_row(str(i), o.plan.name, o.plan.token, f"[{colour}]{o.status}[/]", o.note)
    return table


def run(quiet: bool = False) -> int:
    toolchain.activate()
    console = Console(width=None if sys.stdout.isatty() else 150)
    failures: list[str] = []
    Account.enable_unaudited_hdwallet_features()
    accounts = [Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(20)]
    relayer_keys = {name: Account.create() for name in ("sender", "quote_signer", "arbiter")}
    receiver = Receiver()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="taskescrow-demo-") as tmp:
        stack = Stack(console=console, workdir=Path(tmp))
        try:
            stack.start(accounts, relayer_keys)
            market = Marketplace(stack, accounts, console, quiet)
            w3 = market.w3
            for key in relayer_keys.values():  # the relayer's sender pays gas; the others need none
                market.send(accounts[0], _Transfer(w3, key.address), value=100 * BNB)
            endpoint = market.admin.create_webhook_endpoint(receiver.start(), secret=receiver.secret)
            console.print(f"[bold]backend[/] webhook endpoint {endpoint['url']} registered")
            market.prepare_wallets()
            start_balances = {(t, a): market.balance(t, a) for t in (NATIVE, stack.token) for a in market.accounts()}
            market.gas_paid.clear()
            market.open_orders()
            books = [("all orders funded", market.solvency())]
            console.print(
                f"[bold]{len(market.orders)} orders[/] funded (BNB by the clients' wallets, "
                "USDT by signature through the relayer)"
            )
            if quiet:
                market.play(lambda: None)
            else:
                with Live(status_table(market.orders), console=console, refresh_per_second=4) as live:
                    market.play(lambda: live.update(status_table(market.orders)))
            for order in market.orders:
                if order.status != order.plan.expect:
                    failures.append(f"{order.plan.name}: ended {order.status}, expected {order.plan.expect}")
            books.append(("every path played", market.solvency()))
            market.withdraw_all()
            _wait_for(lambda: _index_caught_up(market), "the index to see every withdrawal")
            books.append(("after every withdrawal", market.solvency()))
            payments = {who: market.backend.payments(who) for who in market.accounts()}
            _wait_for(lambda: len(receiver.events) >= _expected_webhooks(market), "the webhooks to arrive", 30)
            failures += report(console, market, receiver, books, payments, start_balances, quiet)
        except KeyboardInterrupt:
            console.print("[red]interrupted[/]: stopping everything")
            return 130
        except (DemoError, RelayerHTTPError) as exc:
            failures.append(str(exc))
            console.print(f"[red]demo failed:[/] {exc}")
            log = Path(tmp) / "relayer.log"
            if log.exists():
                console.print("[dim]" + log.read_text()[-3000:] + "[/]")
        finally:
            receiver.stop()
            stack.stop()
    console.print(f"took {time.monotonic() - started:.0f} s")
    if failures:
        console.print("[bold red]FAILED[/]:\n  " + "\n  ".join(failures))
        return 1
    console.print("[bold green]the books balance[/]: every path played, every payment accounted for")
    return 0


class _Transfer:
    """A plain value transfer in the shape :meth:`Marketplace.send` takes."""

    fn_name = "transfer"

    def __init__(self, w3: Web3, to: str) -> None:
        self.w3, self.to = w3, to

    def build_transaction(self, tx: dict[str, Any]) -> dict[str, Any]:
        return {**tx, "to": self.to, "gas": 21_000}


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)  # waiting on the relayer's workers, which poll on their own
    raise DemoError(f"timed out waiting for {what}")


def _index_caught_up(market: Marketplace) -> bool:
    """Every withdrawal the wallets made shows in the accounts' payment records."""
    market.stack.chain.mine()
    for who, count in market.withdrawals.items():
        items = market.backend.payments(who)["items"]
        if sum(1 for p in items if p["kind"] == "withdrawn") < count:
            return False
    return True


def _expected_webhooks(market: Marketplace) -> int:
    """At least one webhook per order event the chain emitted for our orders (signed-action notices included)."""
    logs = market.w3.eth.get_logs({"address": market.stack.escrow, "fromBlock": market.stack.deploy_block})
    refs = {o.ref for o in market.orders}
    return sum(1 for log in logs if len(log["topics"]) > 1 and bytes(log["topics"][1]) in refs)


def report(
    console: Console,
    market: Marketplace,
    receiver: Receiver,
    snapshots: list[tuple[str, list[tuple[str, int, int, int]]]],
    payments: dict[str, dict[str, Any]],
    start_balances: dict[tuple[str, str], int],
    quiet: bool,
) -> list[str]:
    failures: list[str] = []
    hooks = receiver.by_order()
    table = Table(title="what happened to each order")
    for column, width in (("#", 3), ("path", 34), ("final", 10), ("deliveries", 22), ("paid to", 24),
                          ("webhooks the backend received, in chain order", 50)):  # fmt: skip
        table.add_column(column, overflow="fold", max_width=width)
    for i, o in enumerate(market.orders, 1):
        deliveries = market.backend.deliveries(o.hex)
        history = ", ".join(f"#{d['index']} {d['lateness']}" for d in deliveries) or "—"
        payouts = []
        for who, label in ((o.client.address, "client"), (o.freelancer.address, "freelancer"),
                           (market.fee_recipient.address, "fee")):  # fmt: skip
            for p in payments[who]["items"]:
                if (p["orderRef"] or "").lower() == o.hex and p["kind"] in ("released", "refunded", "fee"):
                    payouts.append(f"{label} {_fmt(int(p['amount']))}")
        received = hooks.get(o.hex, [])
        order_events = [t.removeprefix("order.") for t in received if t.startswith("order.")
                        and t != "order.signed_action_executed"]  # fmt: skip
        jobs = sum(1 for t in received if t.startswith("job."))
        table.add_row(
            str(i), f"{o.plan.name} ({o.plan.token})", o.status, history, ", ".join(payouts) or "—",
            " → ".join(order_events) + f"  (+{jobs} job updates)",
        )  # fmt: skip
        if not hooks.get(o.hex):
            failures.append(f"{o.plan.name}: the backend received no webhook")
    if not quiet:
        console.print(table)

    books = Table(title="reconciliation: escrow balance = locked in live orders + withdrawable credits")
    for column in ("token", "when", "escrow balance", "locked", "credits", "holds"):
        books.add_column(column)
    for moment, rows in snapshots:
        for token, held, locked, credits in rows:
            ok = held == locked + credits
            books.add_row(token, moment, _fmt(held), _fmt(locked), _fmt(credits), "yes" if ok else "[red]NO[/]")
            if not ok:
                failures.append(f"{token} {moment}: escrow holds {held}, locked + credits = {locked + credits}")
    console.print(books)

    accounts = Table(title="reconciliation: payments from the API = balance change on the chain")
    for column in ("account", "token", "API: withdrawn − funded", "chain: Δ balance + gas", "holds"):
        accounts.add_column(column)
    mismatches = 0
    for who in market.accounts():
        totals = payments[who]["totals"]
        for label, token in (("BNB", NATIVE), ("USDT", market.stack.token)):
            t = totals.get(token) or totals.get(token.lower()) or {}
            api_net = int(t.get("withdrawn", 0)) - int(t.get("funded", 0))
            chain_net = market.balance(token, who) - start_balances[(token, who)]
            if token == NATIVE:
                chain_net += market.gas_paid[who]
            if api_net == chain_net == 0:
                continue
            ok = api_net == chain_net
            mismatches += not ok
            accounts.add_row(who[:10] + "…", label, _fmt(api_net), _fmt(chain_net), "yes" if ok else "[red]NO[/]")
            if not ok:
                failures.append(f"{who} {label}: API says {api_net}, the chain moved {chain_net}")
    if not quiet or mismatches:
        console.print(accounts)
    console.print(
        f"webhooks: {len(receiver.events)} received, every signature verified "
        f"({receiver.bad_signatures} bad, {receiver.duplicates} duplicate ids)"
    )
    if receiver.bad_signatures:
        failures.append(f"{receiver.bad_signatures} webhooks had a bad signature")
    return failures


def _fmt(wei: int) -> str:
    return f"{wei / 10**18:,.6f}".rstrip("0").rstrip(".") if wei else "0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Play the marketplace article end to end through the relayer.")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")
    args = parser.parse_args(argv)
    return run(quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())

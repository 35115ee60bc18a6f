"""The stateful property suite: hypothesis drives the real OrderEscrow on anvil and the model side by side.

Every rule builds a :class:`~offchain.model.Call`, asks the model what must happen, sends the transaction, and
checks that the outcome (success, or the exact custom error and its values) matches; then it reads the touched
order, credits, reputation, nonces and ``availableActions`` back from the chain and compares them with the model.
Invariants (solvency, conservation, final statuses, credits, reputation) run after every step. Each example
starts from an anvil snapshot of the fresh deployment.

Coverage is counted per transition-table row (:data:`offchain.model.ROWS`) and per rejection kind.
"""

from __future__ import annotations

import atexit
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_abi import encode
from eth_utils import keccak
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from offchain.eip712 import (
    Action,
    Domain,
    OrderTerms,
    PartyAction,
    Status,
    action_digest,
    encode_args,
    fund_consent,
    settlement_digest,
    sign_digest,
    terms_digest,
)
from offchain.model import (
    ACTION_FUNCTIONS,
    NATIVE,
    ROWS,
    Call,
    Error,
    Model,
    Ok,
    Outcome,
    SignedAction,
    Timings,
)
from tests.property.harness import RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY, Escrow, Node, Sender, TxResult

HASH = keccak(text="taskescrow property suite")
MAX_LIVE_ORDERS = 5
ROLES = ("client", "freelancer", "otherClient", "otherFreelancer", "arbiter", "outsider", "keeper")
DIRECT_FNS = (*(ACTION_FUNCTIONS[a] for a in Action if a != Action.FUND and a != Action.SETTLE),)
#: How strongly the progress rule prefers each available action (deep rows need long walks).
WEIGHTS: dict[Action, int] = {
    Action.CANCEL: 1,
    Action.SUBMIT_REQUIREMENTS: 8,
    Action.DELIVER: 8,
    Action.REFUND_OVERDUE: 3,
    Action.ACCEPT: 2,
    Action.FINALIZE: 3,
    Action.REQUEST_REVISION: 5,
    Action.ACKNOWLEDGE_REVISION: 4,
    Action.START_REVISION: 4,
    Action.PROPOSE_DEADLINE: 1,
    Action.AGREE_DEADLINE: 4,
    Action.REQUEST_REFUND: 6,
    Action.ACCEPT_REFUND: 2,
    Action.REFUSE_REFUND: 8,
    Action.CLAIM_REFUND: 3,
    Action.OPEN_DISPUTE: 1,
    Action.RESOLVE_DISPUTE: 3,
    Action.SETTLE: 3,
    Action.REVIEW: 4,
    Action.REPLY_TO_REVIEW: 4,
}


#: Scripted walks through the article (who, call) -- "time" steps move the next transaction past a deadline.
PATHS: dict[str, tuple[tuple[str, str], ...]] = {
    "cancelled by the client": (("client", "cancel"),),
    "declined by the freelancer": (("freelancer", "cancel"),),
    "on time, accepted, reviewed, replied": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "accept"),
        ("client", "review"),
        ("freelancer", "review"),
        ("client", "replyToReview"),
        ("freelancer", "replyToReview"),
    ),
    "overdue, auto-completed": (
        ("client", "submitRequirements"),
        ("time", "pastDeliverBy"),
        ("freelancer", "deliver"),
        ("time", "pastDeadline"),
        ("keeper", "finalize"),
        ("freelancer", "review"),
    ),
    "never delivered, refunded when seriously overdue": (
        ("client", "submitRequirements"),
        ("time", "pastSerious"),
        ("client", "refundOverdue"),
    ),
    "seriously overdue delivery refunded": (
        ("client", "submitRequirements"),
        ("time", "pastSerious"),
        ("freelancer", "deliver"),
        ("client", "refundOverdue"),
    ),
    "revision acknowledged, refund refused three times, arbiter": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "requestRevision"),
        ("freelancer", "acknowledgeRevision"),
        ("freelancer", "deliver"),
        ("client", "requestRefund"),
        ("freelancer", "refuseRefund"),
        ("client", "requestRefund"),
        ("freelancer", "refuseRefund"),
        ("client", "requestRefund"),
        ("freelancer", "refuseRefund"),
        ("arbiter", "resolveDispute"),
        ("client", "review"),
    ),
    "silent freelancer: revision starts, then refunded when seriously overdue": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "requestRevision"),
        ("time", "pastDeadline"),
        ("keeper", "startRevision"),
        ("time", "pastSerious"),
        ("client", "refundOverdue"),
    ),
    "late answer to a revision, dispute in revision, settled": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "requestRevision"),
        ("time", "pastDeadline"),
        ("freelancer", "!acknowledgeRevision"),
        ("keeper", "startRevision"),
        ("client", "openDispute"),
        ("client", "settle"),
    ),
    "new deadline agreed, refund claimed from a silent freelancer": (
        ("client", "submitRequirements"),
        ("freelancer", "proposeDeadline"),
        ("client", "agreeDeadline"),
        ("client", "proposeDeadline"),
        ("freelancer", "agreeDeadline"),
        ("freelancer", "deliver"),
        ("client", "requestRefund"),
        ("time", "atDeadline"),
        ("client", "!claimRefund"),
        ("time", "pastDeadline"),
        ("freelancer", "!refuseRefund"),
        ("client", "claimRefund"),
    ),
    "delivered exactly at the deadline: on time": (
        ("client", "submitRequirements"),
        ("time", "atDeliverBy"),
        ("freelancer", "deliver"),
        ("client", "!refundOverdue"),
        ("client", "accept"),
    ),
    "delivered exactly at the serious deadline: overdue, not seriously": (
        ("client", "submitRequirements"),
        ("time", "atSerious"),
        ("freelancer", "deliver"),
        ("client", "!refundOverdue"),
        ("client", "requestRevision"),
        ("freelancer", "acknowledgeRevision"),
        ("time", "pastSerious"),
        ("client", "refundOverdue"),
    ),
    "four and five stars: no reply allowed": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "accept"),
        ("client", "review4"),
        ("freelancer", "!replyToReview"),
        ("freelancer", "review5"),
        ("client", "!replyToReview"),
    ),
    "refund accepted": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "requestRefund"),
        ("freelancer", "acceptRefund"),
    ),
    "disputes from every open status": (
        ("client", "submitRequirements"),
        ("freelancer", "openDispute"),
    ),
    "dispute after delivery": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "openDispute"),
        ("client", "settle"),
    ),
    "dispute on a revision request": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "requestRevision"),
        ("freelancer", "openDispute"),
        ("arbiter", "resolveDispute"),
    ),
    "dispute on a refund request": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "requestRefund"),
        ("client", "openDispute"),
    ),
    "revision limit": (
        ("client", "submitRequirements"),
        ("freelancer", "deliver"),
        ("client", "requestRevision"),
        ("freelancer", "acknowledgeRevision"),
        ("freelancer", "deliver"),
        ("client", "requestRevision"),
        ("freelancer", "acknowledgeRevision"),
        ("freelancer", "deliver"),
        ("client", "!requestRevision"),
        ("client", "accept"),
    ),
}


class Mismatch(AssertionError):
    """The contract and the model disagree (a contract bug or a model bug); the message says where."""


# ---------------------------------------------------------------------------------------------------------------
# One chain for the whole run
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Campaign:
    """The anvil, the deployment, its snapshot, and what the run has covered so far."""

    node: Node
    escrow: Escrow
    snap: tuple[str, int, list[int]] = ("", 0, [])
    rows: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    steps: int = 0
    examples: int = 0
    #: Called after every transaction (progress bars).
    on_step: Callable[[], None] | None = None
    #: The calls of the example that ran last (after a failure: the shrunk counterexample).
    last_history: list[str] = field(default_factory=list)

    def fresh(self) -> None:
        """Back to the deployment (a snapshot id is single-use: take a new one after each revert)."""
        if self.snap[0]:
            self.node.revert(self.snap)
        self.snap = self.node.snapshot()
        self.examples += 1

    def reset_coverage(self) -> None:
        self.rows.clear()
        self.rejections.clear()
        self.steps = self.examples = 0


_CAMPAIGN: Campaign | None = None


def campaign() -> Campaign:
    global _CAMPAIGN
    if _CAMPAIGN is None:
        node = Node().start()
        atexit.register(node.stop)
        _CAMPAIGN = Campaign(node, Escrow(node).deploy())
    return _CAMPAIGN


def stop_campaign() -> None:
    global _CAMPAIGN
    if _CAMPAIGN is not None:
        _CAMPAIGN.node.stop()
        _CAMPAIGN = None


# ---------------------------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------------------------


class EscrowMachine(RuleBasedStateMachine):
    """Several orders, clients and freelancers, the arbiter, an outsider and a keeper, in BNB and a BEP-20."""

    def __init__(self) -> None:
        super().__init__()
        self.c = campaign()
        self.c.fresh()
        e = self.c.escrow
        self.e = e
        self.node = e.node
        self.model = Model(
            Timings(RESPONSE_WINDOW, REVIEW_PERIOD, SERIOUS_DELAY),
            admin=e.admin.address,
            fee_recipient=e.fee_recipient.address,
            quote_signers={e.quote_signer.address},
            arbiters={e.arbiter.address},
            allowed_tokens={e.token},
        )
        self.refs: list[bytes] = []
        self.counter = 0
        self.final_seen: dict[bytes, int] = {}
        self.last_signed: tuple[tuple[Any, ...], bytes, SignedAction, bytes] | None = None
        self.history: list[str] = []
        self.c.last_history = self.history
        self.walked: list[str] = []
        self.by_address: dict[str, Sender] = {s.address: s for s in self.node.senders}
        self.credit_holders = [e.fee_recipient, *e.clients, *e.freelancers]
        self.watchers = [e.arbiter, e.outsider, e.keeper]

    # -- helpers -----------------------------------------------------------------------------------------

    @property
    def domain(self) -> Domain:
        return self.e.domain

    def _order_ref(self, index: int) -> bytes | None:
        if not self.refs:
            return None
        return self.refs[index % len(self.refs)]

    def _role(self, ref: bytes | None, role: str) -> Sender:
        e = self.e
        o = self.model.order(ref) if ref else None
        client = self.by_address[o.terms.client] if o else e.clients[0]
        freelancer = self.by_address[o.terms.freelancer] if o else e.freelancers[0]
        if role == "client":
            return client
        if role == "freelancer":
            return freelancer
        if role == "otherClient":
            return next(s for s in e.clients if s is not client)
        if role == "otherFreelancer":
            return next(s for s in e.freelancers if s is not freelancer)
        return {"arbiter": e.arbiter, "outsider": e.outsider, "keeper": e.keeper}[role]

    def _execute(self, call: Call, sender: Sender, fn: str, args: tuple[Any, ...], value: int = 0) -> Outcome:
        """Send one transaction, compare its outcome with the model's, apply it, and verify the touched state."""
        self.c.steps += 1
        if self.c.on_step is not None:
            self.c.on_step()
        assert call.now == self.node.next_timestamp
        expected = self.model.check(call)
        self.history.append(call.describe())
        result: TxResult = self.e.call(sender, fn, *args, value=value)
        if result.timestamp != call.now:
            raise Mismatch(f"the transaction ran at {result.timestamp}, the model at {call.now}")
        if result.ok:
            actual: Outcome = Ok("")
        else:
            actual = Error(*self.e.abi.decode_error(result.revert))
        self.history[-1] += f"  -> {'ok' if result.ok else actual}"
        if bool(actual) != bool(expected) or (not result.ok and actual != expected):
            raise Mismatch(f"{call.describe()}: the contract gave {_show(actual)}, the model expects {_show(expected)}")
        before = dict(self.model.credits)
        outcome = self.model.apply(call)
        if isinstance(outcome, Ok):
            self.c.rows.update(outcome.rows)
        else:
            self.c.rejections[outcome.name] += 1
        self._check_credit_decreases(before, call, outcome)
        self._verify(call)
        return outcome

    def _check_credit_decreases(self, before: dict[tuple[str, str], int], call: Call, outcome: Outcome) -> None:
        for key, amount in before.items():
            if self.model.credits.get(key, 0) < amount and not (
                isinstance(outcome, Ok) and call.fn == "withdraw" and key == (call.args[0], call.sender)
            ):
                raise Mismatch(f"credit {key} decreased without its owner's withdrawal: {call.describe()}")

    def _verify(self, call: Call) -> None:
        """Read the touched order and accounts back from the chain and compare them with the model."""
        refs = [call.ref] if call.ref in self.model.orders else []
        if call.terms is not None and call.terms.orderRef in self.model.orders:
            refs = [call.terms.orderRef]
        accounts = {call.sender}
        tokens = {NATIVE, self.e.token} if call.fn == "withdraw" else set()
        if call.signed is not None:
            accounts.add(call.signed.party)
        for ref in refs:
            o = self.model.orders[ref]
            accounts |= {o.terms.client, o.terms.freelancer, self.e.fee_recipient.address}
            tokens.add(o.terms.token)
        self._compare(refs, sorted(accounts), sorted(tokens), [s.address for s in self.watchers])

    def _compare(self, refs: list[bytes], accounts: list[str], tokens: list[str], watchers: list[str]) -> None:
        e, model, now = self.e, self.model, self.node.last_timestamp
        reads: list[tuple[str, bytes]] = []
        expect: list[tuple[str, str, Any]] = []
        for ref in refs:
            o = model.orders[ref]
            reads.append(e.read_data("getOrder", ref))
            expect.append(("getOrder", f"getOrder(0x{ref[:4].hex()})", model.view(ref)))
            for who in (o.terms.client, o.terms.freelancer, *watchers):
                reads.append(e.read_data("availableActions", ref, who))
                mask = model.available_actions(ref, who, now)
                expect.append(("availableActions", f"availableActions(0x{ref[:4].hex()}, {who[:8]}) at {now}", mask))
        for token in tokens:
            for who in accounts:
                reads.append(e.read_data("withdrawable", token, who))
                expect.append(("withdrawable", f"withdrawable({token[:8]}, {who[:8]})", model.withdrawable(token, who)))
        for who in accounts:
            reads.append(e.read_data("reputationOf", who))
            expect.append(("reputationOf", f"reputationOf({who[:8]})", model.reputation_of(who)))
            reads.append(e.read_data("nonces", who))
            expect.append(("nonces", f"nonces({who[:8]})", model.nonce_of(who)))
        answers, (raw_native, raw_token) = self.node.calls(reads, self.e.balance_reads())
        for token, held in ((NATIVE, int(raw_native, 16)), (self.e.token, int(raw_token, 16))):
            owed = model.escrow_balance(token)
            if held != owed:
                raise Mismatch(f"solvency: the escrow holds {held} of {token[:8]}, locked + credits is {owed}")
        for raw, (fn, label, want) in zip(answers, expect, strict=True):
            got = e.decode(fn, raw)
            if got != want:
                raise Mismatch(f"{label}: the chain has {got!r}, the model {want!r} (after {self.history[-1]})")

    def _party_args(self, fn: str, ref: bytes, arg: int, now: int) -> tuple[Any, ...]:
        """The arguments after the ref of a direct call of ``fn``; ``arg`` picks edge values."""
        o = self.model.order(ref)
        if fn in ("submitRequirements", "deliver", "requestRevision", "requestRefund", "openDispute", "replyToReview"):
            return (HASH,)
        if fn == "proposeDeadline":
            return (now + (-1, 0, 1, 3600, 86_400, 7 * 86_400, 30 * 86_400)[arg % 7],)
        if fn == "agreeDeadline":
            proposed = o.proposed if o and o.proposed else now + 3600
            return (proposed + (0, 0, 0, 1, -1, 0, 0)[arg % 7],)
        if fn == "review":
            return (arg % 7, HASH)
        if fn == "resolveDispute":
            return ((0, 1, 3333, 5000, 9999, 10_000, 10_001)[arg % 7],)
        return ()

    def _direct(self, ref: bytes, fn: str, sender: Sender, args: tuple[Any, ...]) -> Outcome:
        now = self.node.next_timestamp
        return self._execute(Call(fn, sender.address, now, ref=ref, args=args), sender, fn, (ref, *args))

    def _signed(
        self,
        ref: bytes,
        action: Action,
        party: Sender,
        args: tuple[Any, ...],
        *,
        signer: Sender | None = None,
        nonce_shift: int = 0,
        deadline_shift: int = 3600,
        extra: int = 0,
        wrong_domain: bool = False,
        submitter: Sender | None = None,
    ) -> Outcome:
        now = self.node.next_timestamp
        signer = signer or party
        nonce = max(0, self.model.nonce_of(party.address) + nonce_shift)
        deadline = now + deadline_shift
        encoded = encode_args(action, *args) + b"\x00" * extra
        message = PartyAction(party.address, action, ref, encoded, nonce, deadline)
        domain = Domain(self.domain.chain_id + 1, self.e.address) if wrong_domain else self.domain
        signature = sign_digest(signer.key, action_digest(domain, message))
        signed = SignedAction(party.address, action, nonce, deadline, signer.address, args, extra, not wrong_domain)
        submitter = submitter or self.e.keeper
        call = Call("executeWithSig", submitter.address, now, ref=ref, signed=signed)
        outcome = self._execute(call, submitter, "executeWithSig", (message.as_tuple(), signature))
        if isinstance(outcome, Ok):
            self.last_signed = (message.as_tuple(), signature, signed, ref)
        return outcome

    def _settle(self, ref: bytes, bps: int, client_ok: bool, freelancer_ok: bool, same: bool) -> Outcome:
        o = self.model.order(ref)
        client = self.by_address[o.terms.client] if o else self.e.clients[0]
        freelancer = self.by_address[o.terms.freelancer] if o else self.e.freelancers[0]
        c_signer = client if client_ok else self.e.outsider
        f_signer = freelancer if freelancer_ok else self.e.outsider
        f_bps = bps if same else (bps + 1) % 10_001
        c_sig = sign_digest(c_signer.key, settlement_digest(self.domain, ref, bps))
        f_sig = sign_digest(f_signer.key, settlement_digest(self.domain, ref, f_bps))
        now = self.node.next_timestamp
        call = Call(
            "settle",
            self.e.keeper.address,
            now,
            ref=ref,
            args=(bps,),
            settle_signers=(c_signer.address, f_signer.address),
            settle_bps=(bps, f_bps),
        )
        return self._execute(call, self.e.keeper, "settle", (ref, bps, c_sig, f_sig))

    # -- rules: funding ----------------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.history.append(f"(fresh deployment at t={self.node.last_timestamp})")

    @precondition(lambda self: sum(not o.status.final for o in self.model.orders.values()) < MAX_LIVE_ORDERS)
    @rule(
        client=st.integers(0, 1),
        freelancer=st.integers(0, 1),
        native=st.booleans(),
        amount=st.sampled_from([1, 7, 9_999, 123_456_789, 10**18]),
        fee=st.sampled_from([0, 1, 250, 1_000, 2_000]),
        duration=st.sampled_from([3_600, 86_400, 5 * 86_400]),
        max_revisions=st.integers(0, 3),
        expiry=st.sampled_from([86_400, 86_400, 86_400, 1, 0, -1]),
        variant=st.sampled_from(
            ["direct"] * 6
            + ["withSig"] * 2
            + ["wrongQuoteSigner", "wrongSender", "wrongValue", "reuseRef", "sameParties", "zeroAmount"]
            + ["zeroDuration", "feeTooHigh", "tokenNotAllowed", "badConsent"]
        ),
    )
    def fund(
        self,
        client: int,
        freelancer: int,
        native: bool,
        amount: int,
        fee: int,
        duration: int,
        max_revisions: int,
        expiry: int,
        variant: str,
    ) -> None:
        e, now = self.e, self.node.next_timestamp
        self.counter += 1
        ref = keccak(encode(["string", "uint256"], ["order", self.counter]))
        if variant == "reuseRef" and self.refs:
            ref = self.refs[self.counter % len(self.refs)]
        payer = e.clients[client]
        token = NATIVE if native and variant != "withSig" else e.token
        terms = OrderTerms(
            orderRef=ref,
            client=payer.address,
            freelancer=payer.address if variant == "sameParties" else e.freelancers[freelancer].address,
            token=e.outsider.address if variant == "tokenNotAllowed" else token,
            amount=0 if variant == "zeroAmount" else amount,
            feeBps=2_001 if variant == "feeTooHigh" else fee,
            deliveryDuration=0 if variant == "zeroDuration" else duration,
            maxRevisions=max_revisions,
            quoteExpiry=now + expiry,
        )
        quote_signer = e.outsider if variant == "wrongQuoteSigner" else e.quote_signer
        quote = sign_digest(quote_signer.key, terms_digest(self.domain, terms))
        if variant in ("withSig", "badConsent"):
            consenter = e.outsider if variant == "badConsent" else payer
            consent = sign_digest(consenter.key, action_digest(self.domain, fund_consent(terms)))
            call = Call(
                "fundWithSig",
                e.keeper.address,
                now,
                terms=terms,
                quote_signer=quote_signer.address,
                consent_signer=consenter.address,
            )
            outcome = self._execute(call, e.keeper, "fundWithSig", (terms.as_tuple(), quote, consent))
        else:
            sender = e.outsider if variant == "wrongSender" else payer
            value = terms.amount if terms.token == NATIVE else 0
            if variant == "wrongValue":
                value = value + 1 if terms.token == NATIVE else 1
            call = Call("fund", sender.address, now, value=value, terms=terms, quote_signer=quote_signer.address)
            outcome = self._execute(call, sender, "fund", (terms.as_tuple(), quote), value=value)
        if isinstance(outcome, Ok):
            self.refs.append(ref)

    # -- rules: party actions ----------------------------------------------------------------------------

    @precondition(lambda self: bool(self.refs))
    @rule(order=st.integers(0, 15), pick=st.integers(0, 10_000), signed=st.sampled_from([False, False, False, True]))
    def progress(self, order: int, pick: int, signed: bool) -> None:
        """Take one of the actions the model says is available now (weighted towards the long paths)."""
        self._progress(order, pick, signed)

    @precondition(lambda self: bool(self.refs))
    @rule(order=st.integers(0, 15), pick=st.integers(0, 10_000))
    def progress_more(self, order: int, pick: int) -> None:
        """The same as :meth:`progress`: a second rule so hypothesis picks progress more often."""
        self._progress(order, pick, False)

    @precondition(lambda self: bool(self.refs))
    @rule(order=st.integers(0, 15), pick=st.integers(0, 10_000))
    def progress_most_recent(self, order: int, pick: int) -> None:
        """Progress on one of the newest orders, so single orders travel far."""
        self._progress(len(self.refs) - 1 - order % 2, pick, False)

    def _progress(self, order: int, pick: int, signed: bool) -> None:
        ref = self._order_ref(order)
        o = self.model.order(ref)
        if o is None or (o.status.final and o.client_rating and o.freelancer_rating):
            return
        now = self.node.next_timestamp
        client = self.by_address[o.terms.client]
        freelancer = self.by_address[o.terms.freelancer]
        candidates: list[tuple[Action, Sender]] = []
        for who in (client, freelancer, self.e.arbiter, self.e.keeper):
            mask = self.model.available_actions(ref, who.address, now)
            for action in Action:
                if mask >> action & 1 and not (
                    who is self.e.keeper and action not in (Action.FINALIZE, Action.START_REVISION)
                ):
                    candidates += [(action, who)] * WEIGHTS[action]
        if not candidates:
            return
        action, who = candidates[pick % len(candidates)]
        if action == Action.SETTLE:
            self._settle(ref, (0, 2_500, 5_000, 10_000)[pick % 4], True, True, True)
            return
        fn = ACTION_FUNCTIONS[action]
        if action == Action.PROPOSE_DEADLINE:
            args: tuple[Any, ...] = (now + (1, 3600, 86_400, 7 * 86_400)[pick % 4],)
        elif action == Action.AGREE_DEADLINE:
            args = (o.proposed,)
        elif action == Action.REVIEW:
            args = (1 + pick % 5, HASH)
        elif action == Action.RESOLVE_DISPUTE:
            args = ((0, 1, 3333, 5000, 9999, 10_000)[pick % 6],)
        else:
            args = self._party_args(fn, ref, 0, now)
        if signed and who in (client, freelancer):
            self._signed(ref, action, who, args)
        else:
            self._direct(ref, fn, who, args)

    @rule(
        path=st.sampled_from(sorted(PATHS)),
        native=st.booleans(),
        signed=st.sampled_from([False, False, True]),
        rating=st.integers(1, 5),
    )
    def lifecycle(self, path: str, native: bool, signed: bool, rating: int, paused: bool = False) -> None:
        """Fund a new order and walk it along one path of the article, every step checked like any other.

        Other rules interleave between lifecycles (time moves, other orders, pause), so a walk stops at its
        first rejected step.
        """
        if self.model.paused or sum(not o.status.final for o in self.model.orders.values()) >= MAX_LIVE_ORDERS:
            return
        before = len(self.refs)
        self.fund(0, 1, native, 10**18 + 7, 1_000, 86_400, 2, 86_400, "direct")
        if len(self.refs) == before:
            return
        ref = self.refs[-1]
        if paused:  # pause stops new orders only: the whole walk must go through while paused
            self.toggle_pause(True, True)
        steps = PATHS[path]
        after_time = False
        for i, step in enumerate(steps):
            o = self.model.orders[ref]
            who, fn = step
            rejected = fn.startswith("!")
            fn = fn.removeprefix("!")
            stars = 0
            if fn.startswith("review") and fn != "review":  # "review4": that exact rating
                fn, stars = "review", int(fn.removeprefix("review"))
            if who == "time":
                mark = {
                    "pastDeliverBy": o.deliver_by + 1,
                    "pastSerious": o.deliver_by + SERIOUS_DELAY + 1,
                    "pastDeadline": o.deadline + 1,
                    "atDeadline": o.deadline,
                    "atDeliverBy": o.deliver_by,
                    "atSerious": o.deliver_by + SERIOUS_DELAY,
                }[fn]
                if fn.startswith("past") and i + 1 < len(steps) and mark - 1 > self.node.next_timestamp:
                    # The last second before the door opens: the gated call must still be refused.
                    self.node.pin(mark - 1)
                    self._probe(ref, *steps[i + 1])
                if mark > self.node.next_timestamp:
                    self.node.pin(mark)
                after_time = True
                continue
            if not after_time and not rejected:
                # Everyone the model refuses tries this step first (each refusal mines a block, so not
                # right after a time step, whose second must be kept for the step itself).
                for wrong in (self.e.outsider, self.by_address[o.terms.client], self.by_address[o.terms.freelancer]):
                    self._probe(ref, who, fn, wrong)
            after_time = False
            sender = self.e.keeper if who == "keeper" else self.e.arbiter if who == "arbiter" else None
            sender = sender or self.by_address[o.terms.client if who == "client" else o.terms.freelancer]
            now = self.node.next_timestamp
            if fn == "settle":
                outcome = self._settle(ref, 6_000, True, True, True)
            else:
                args = self._party_args(fn, ref, 3, now)
                if fn == "review":
                    # below 4 unless the path names the rating, so both parties may reply
                    args = (stars or 1 + (rating + (who == "client")) % 3, HASH)
                elif fn == "agreeDeadline":
                    args = (o.proposed,)
                action = next(a for a, f in ACTION_FUNCTIONS.items() if f == fn)
                if signed and who in ("client", "freelancer"):
                    outcome = self._signed(ref, action, sender, args)
                else:
                    outcome = self._direct(ref, fn, sender, args)
            if isinstance(outcome, Ok) == rejected:
                return
        self.walked.append(path)

    def _probe(self, ref: bytes, who: str, fn: str, sender: Sender | None = None) -> None:
        """Send ``fn`` (by ``sender``, else by the step's own party) only if the model says it must be refused."""
        fn = fn.removeprefix("!")
        if who == "time" or fn == "settle":
            return
        o = self.model.orders[ref]
        if sender is None:
            sender = {"keeper": self.e.keeper, "arbiter": self.e.arbiter}.get(who) or self.by_address[
                o.terms.client if who == "client" else o.terms.freelancer
            ]
        now = self.node.next_timestamp
        args = (o.proposed,) if fn == "agreeDeadline" else self._party_args(fn, ref, 3, now)
        if fn == "review":
            args = (3, HASH)
        if isinstance(self.model.check(Call(fn, sender.address, now, ref=ref, args=args)), Ok):
            return
        self._direct(ref, fn, sender, args)

    @precondition(lambda self: bool(self.refs))
    @rule(order=st.integers(0, 15), fn=st.sampled_from(DIRECT_FNS), role=st.sampled_from(ROLES), arg=st.integers(0, 6))
    def call_anything(self, order: int, fn: str, role: str, arg: int) -> None:
        """Any function by anyone with edge-case arguments: mostly rejections, each with its exact error."""
        ref = self._order_ref(order)
        assert ref is not None
        self._direct(ref, fn, self._role(ref, role), self._party_args(fn, ref, arg, self.node.next_timestamp))

    @rule(fn=st.sampled_from(["accept", "cancel", "openDispute", "review", "finalize"]), role=st.sampled_from(ROLES))
    def call_unknown_order(self, fn: str, role: str) -> None:
        ref = keccak(text="never funded")
        self._direct(ref, fn, self._role(None, role), self._party_args(fn, ref, 3, self.node.next_timestamp))

    @precondition(lambda self: bool(self.refs))
    @rule(
        order=st.integers(0, 15), answer=st.sampled_from(["refuse", "refuse", "refuse", "accept", "silent", "dispute"])
    )
    def refund_round(self, order: int, answer: str) -> None:
        """The client asks for a refund; the freelancer refuses (the 3rd time disputes), accepts, or stays silent."""
        ref = self._order_ref(order)
        o = self.model.order(ref)
        if o is None or o.status != Status.DELIVERED:
            return
        client, freelancer = self.by_address[o.terms.client], self.by_address[o.terms.freelancer]
        self._direct(ref, "requestRefund", client, (HASH,))
        if answer == "silent":
            self.node.pin(o.deadline + 1)
            self._direct(ref, "claimRefund", client, ())
        else:
            fn = {"refuse": "refuseRefund", "accept": "acceptRefund", "dispute": "openDispute"}[answer]
            self._direct(ref, fn, freelancer, (HASH,) if answer == "dispute" else ())

    @precondition(lambda self: bool(self.refs))
    @rule(order=st.integers(0, 15), answer=st.sampled_from(["acknowledge", "silent", "late", "dispute"]))
    def revision_round(self, order: int, answer: str) -> None:
        """The client asks for a revision; the freelancer acknowledges, stays silent, answers late, or disputes."""
        ref = self._order_ref(order)
        o = self.model.order(ref)
        if o is None or o.status != Status.DELIVERED or o.revisions_used >= o.terms.maxRevisions:
            return
        client, freelancer = self.by_address[o.terms.client], self.by_address[o.terms.freelancer]
        self._direct(ref, "requestRevision", client, (HASH,))
        if answer in ("silent", "late"):
            self.node.pin(o.deadline + 1)
        if answer == "silent":
            self._direct(ref, "startRevision", self.e.keeper, ())
        elif answer == "dispute":
            self._direct(ref, "openDispute", freelancer, (HASH,))
        else:
            self._direct(ref, "acknowledgeRevision", freelancer, ())

    @precondition(lambda self: bool(self.refs))
    @rule(order=st.integers(0, 15), client_proposes=st.booleans(), offset=st.sampled_from([1, 3600, 9 * 86_400]))
    def deadline_round(self, order: int, client_proposes: bool, offset: int) -> None:
        """One party proposes a new delivery date and the other agrees."""
        ref = self._order_ref(order)
        o = self.model.order(ref)
        if o is None or not o.working:
            return
        client, freelancer = self.by_address[o.terms.client], self.by_address[o.terms.freelancer]
        proposer, agreer = (client, freelancer) if client_proposes else (freelancer, client)
        date = self.node.next_timestamp + offset
        self._direct(ref, "proposeDeadline", proposer, (date,))
        self._direct(ref, "agreeDeadline", agreer, (date,))

    @precondition(lambda self: bool(self.refs))
    @rule(
        order=st.integers(0, 15),
        action=st.sampled_from(list(Action)),
        role=st.sampled_from(ROLES),
        arg=st.integers(0, 6),
        signer=st.sampled_from(["party"] * 4 + ["other", "wrongDomain"]),
        nonce_shift=st.sampled_from([0, 0, 0, 0, -1, 1]),
        deadline_shift=st.sampled_from([3600, 3600, 3600, 0, -1]),
        extra=st.sampled_from([0, 0, 0, 0, 0, 32]),
        submitter=st.sampled_from(["keeper", "outsider", "party"]),
    )
    def signed_action(
        self,
        order: int,
        action: Action,
        role: str,
        arg: int,
        signer: str,
        nonce_shift: int,
        deadline_shift: int,
        extra: int,
        submitter: str,
    ) -> None:
        """A party's signed action via executeWithSig: valid, expired, wrong nonce, wrong signer or domain."""
        ref = self._order_ref(order)
        assert ref is not None
        party = self._role(ref, role)
        now = self.node.next_timestamp
        fn = ACTION_FUNCTIONS.get(action, "")
        args = self._party_args(fn, ref, arg, now) if fn and action not in (Action.RESOLVE_DISPUTE,) else ()
        self._signed(
            ref,
            action,
            party,
            args,
            signer=self.e.outsider if signer == "other" else party,
            nonce_shift=nonce_shift,
            deadline_shift=deadline_shift,
            extra=extra,
            wrong_domain=signer == "wrongDomain",
            submitter={"keeper": self.e.keeper, "outsider": self.e.outsider, "party": party}[submitter],
        )

    @precondition(lambda self: self.last_signed is not None)
    @rule()
    def replay_signed_action(self) -> None:
        """Submitting a used signature again fails on its nonce."""
        assert self.last_signed is not None
        message, signature, signed, ref = self.last_signed
        now = self.node.next_timestamp
        call = Call("executeWithSig", self.e.outsider.address, now, ref=ref, signed=signed)
        self._execute(call, self.e.outsider, "executeWithSig", (message, signature))

    @precondition(lambda self: bool(self.refs))
    @rule(
        order=st.integers(0, 15),
        bps=st.sampled_from([0, 1, 5_000, 9_999, 10_000, 10_001]),
        client_ok=st.sampled_from([True, True, True, False]),
        freelancer_ok=st.sampled_from([True, True, True, False]),
        same=st.sampled_from([True, True, True, False]),
    )
    def settle(self, order: int, bps: int, client_ok: bool, freelancer_ok: bool, same: bool) -> None:
        ref = self._order_ref(order)
        assert ref is not None
        self._settle(ref, bps, client_ok, freelancer_ok, same)

    # -- rules: money, admin, time -------------------------------------------------------------------------

    @rule(who=st.integers(0, 6), native=st.booleans())
    def withdraw(self, who: int, native: bool) -> None:
        e = self.e
        self._withdraw([e.fee_recipient, *e.clients, *e.freelancers, e.outsider, e.keeper][who], native)

    @precondition(lambda self: bool(self.model.credits))
    @rule(pick=st.integers(0, 100))
    def withdraw_owed(self, pick: int) -> None:
        """Someone who is owed something withdraws it."""
        token, account = sorted(self.model.credits)[pick % len(self.model.credits)]
        self._withdraw(self.by_address[account], token == NATIVE)

    def _withdraw(self, sender: Sender, native: bool) -> None:
        e = self.e
        token = NATIVE if native else e.token
        before = self._balance(token, sender.address)
        now = self.node.next_timestamp
        owed = self.model.withdrawable(token, sender.address)
        outcome = self._execute(Call("withdraw", sender.address, now, args=(token,)), sender, "withdraw", (token,))
        received = self._balance(token, sender.address) - before
        if received != (owed if isinstance(outcome, Ok) else 0):
            raise Mismatch(f"withdraw paid {sender.address[:8]} {received}, the model owed {owed}")

    def _balance(self, token: str, account: str) -> int:
        if token == NATIVE:
            return int(self.node.rpc("eth_getBalance", account, "latest"), 16)
        (raw,), _ = self.node.calls([(token, self.e.token_abi.functions["balanceOf"].data(account))])
        return int.from_bytes(raw, "big")

    @rule(pause=st.sampled_from([True] + [False] * 7), by_admin=st.sampled_from([True, True, True, False]))
    def toggle_pause(self, pause: bool, by_admin: bool) -> None:
        """Pause stops new orders only; every exit keeps working (the other rules run while paused)."""
        sender = self.e.admin if by_admin else self.e.outsider
        fn = "pause" if pause else "unpause"
        self._execute(Call(fn, sender.address, self.node.next_timestamp), sender, fn, ())

    @precondition(lambda self: bool(self.refs))
    @rule(
        order=st.integers(0, 15),
        which=st.integers(0, 3),
        delta=st.sampled_from([-1, 0, 1, 1, 3600]),
        pick=st.integers(0, 10_000),
    )
    def advance_to_deadline(self, order: int, which: int, delta: int, pick: int) -> None:
        """Move time so the next transaction runs just before, at, or after one of an order's deadlines; act."""
        self._advance(order, which, delta)
        self._progress(order, pick, False)

    def _advance(self, order: int, which: int, delta: int) -> None:
        ref = self._order_ref(order)
        o = self.model.order(ref)
        if o is None:
            return
        marks = []
        if o.working:
            marks = [o.deliver_by, o.deliver_by + SERIOUS_DELAY]
            if o.proposed:
                marks.append(o.proposed)
        elif o.status in (Status.DELIVERED, Status.REVISION_REQUESTED, Status.REFUND_REQUESTED):
            marks = [o.deadline]
        if not marks:
            return
        target = marks[which % len(marks)] + delta
        if target - 1 <= self.node.last_timestamp:
            return
        self.node.pin(target - 1)
        self.node.mine()
        self.history.append(f"(time -> next transaction at t={target})")
        self.sweep()

    @precondition(lambda self: bool(self.refs))
    @rule(
        order=st.integers(0, 15),
        which=st.integers(0, 3),
        delta=st.sampled_from([-1, 0, 0, 0, 1]),
        pick=st.integers(0, 10_000),
    )
    def probe_deadline(self, order: int, which: int, delta: int, pick: int) -> None:
        """At one second before, at, or after a deadline, try the call it gates, whether the model allows it or not.

        ``advance_to_deadline`` only takes steps the model allows, so a contract that opens a door one second
        early would never be tried there; this rule knocks on the door at the boundary itself.
        """
        gated_refs = [r for r in self.refs if self._gated_calls(self.model.orders[r])]
        if not gated_refs:
            return
        ref = gated_refs[order % len(gated_refs)]
        self._advance(self.refs.index(ref), which, delta)
        o = self.model.orders[ref]
        gated = self._gated_calls(o)
        if not gated:
            return
        fn, sender = gated[pick % len(gated)]
        self._direct(ref, fn, sender, self._party_args(fn, ref, 0, self.node.next_timestamp))

    def _gated_calls(self, o: Any) -> list[tuple[str, Sender]]:
        """The calls a deadline of ``o`` opens or closes, each with the party that would make it."""
        client = self.by_address[o.terms.client]
        freelancer = self.by_address[o.terms.freelancer]
        gated: list[tuple[str, Sender]] = []
        if o.working:
            gated = [("deliver", freelancer), ("refundOverdue", client)]
        elif o.status == Status.DELIVERED:
            gated = [("finalize", self.e.keeper), ("refundOverdue", client)]
        elif o.status == Status.REVISION_REQUESTED:
            gated = [("startRevision", self.e.keeper), ("acknowledgeRevision", freelancer)]
        elif o.status == Status.REFUND_REQUESTED:
            gated = [("claimRefund", client), ("refuseRefund", freelancer)]
        return gated

    @precondition(lambda self: bool(self.refs))
    @rule(order=st.integers(0, 15), pick=st.integers(0, 10_000), role=st.sampled_from(ROLES))
    def probe_wrong_caller(self, order: int, pick: int, role: str) -> None:
        """Someone the model does not allow tries a call that its rightful party could make right now."""
        ref = self._order_ref(order)
        o = self.model.order(ref)
        if o is None or ref is None:
            return
        now = self.node.next_timestamp
        client = self.by_address[o.terms.client]
        freelancer = self.by_address[o.terms.freelancer]
        open_calls = sorted(
            {
                action
                for who in (client, freelancer, self.e.arbiter)
                for action in Action
                if self.model.available_actions(ref, who.address, now) >> action & 1
                and action not in (Action.SETTLE, Action.FINALIZE, Action.START_REVISION)
            }
        )
        if not open_calls:
            return
        action = open_calls[pick % len(open_calls)]
        sender = self._role(ref, role)
        if self.model.available_actions(ref, sender.address, now) >> action & 1:
            return  # this sender may make the call: not a wrong caller
        fn = ACTION_FUNCTIONS[action]
        args = (o.proposed,) if action == Action.AGREE_DEADLINE else self._party_args(fn, ref, 3, now)
        if action == Action.REVIEW:
            args = (3, HASH)
        self._direct(ref, fn, sender, args)

    @rule(seconds=st.sampled_from([1, 3600, 86_400, 4 * 86_400]))
    def advance_time(self, seconds: int) -> None:
        self.node.pin(self.node.last_timestamp + seconds)
        self.node.mine()
        self.history.append(f"(time +{seconds}s -> next transaction at t={self.node.next_timestamp})")

    def sweep(self) -> None:
        """Compare every order, credit, reputation and nonce with the model."""
        e = self.e
        accounts = [s.address for s in (*self.credit_holders, *self.watchers)]
        self._compare(list(self.model.orders), accounts, [NATIVE, e.token], [s.address for s in self.watchers])

    # -- invariants ----------------------------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        """Conservation of final orders, final statuses, reputation (solvency: see :meth:`_compare`)."""
        model = self.model  # the escrow's real balances are compared with these after every transaction
        received: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        for ref, o in model.orders.items():
            if o.status.final:
                assert o.payout is not None and sum(o.payout) == o.terms.amount, f"conservation of 0x{ref[:4].hex()}"
                seen = self.final_seen.setdefault(ref, int(o.status))
                if seen != int(o.status):
                    raise Mismatch(f"final status of 0x{ref[:4].hex()} changed from {seen} to {int(o.status)}")
            for rating, reviewee in ((o.client_rating, o.terms.freelancer), (o.freelancer_rating, o.terms.client)):
                if rating:
                    received[reviewee] += rating
                    counts[reviewee] += 1
        for who in set(received) | set(model.reputation):
            if model.reputation_of(who) != (received[who], counts[who]):
                raise Mismatch(f"reputation of {who[:8]} is not the sum of its reviews")

    def teardown(self) -> None:
        if self.refs:
            self.sweep()


def walk_every_path(machine: EscrowMachine) -> list[str]:
    """Walk every scripted path once (BNB and BEP-20, direct and signed, all ratings); the paths not completed."""
    for i, path in enumerate(sorted(PATHS)):
        machine.lifecycle(path, native=i % 2 == 0, signed=i % 3 == 0, rating=1 + i % 5, paused=i % 3 == 2)
        machine.toggle_pause(False, True)
        machine.books_balance()
    machine.fund(1, 0, False, 5_000, 250, 3_600, 1, 86_400, "withSig")
    machine.toggle_pause(True, True)
    machine.fund(1, 0, True, 5_000, 250, 3_600, 1, 86_400, "direct")  # refused while paused
    # ... and every withdrawal goes through while paused
    while machine.model.credits:
        machine.withdraw_owed(0)
    machine.toggle_pause(False, True)
    machine.sweep()
    return sorted(set(PATHS) - set(machine.walked))


def _show(outcome: Outcome) -> str:
    return "success" if isinstance(outcome, Ok) else str(outcome)


def steps_from_env(default: int = 3_000) -> int:
    return int(os.environ.get("TASKESCROW_STEPS", default))


def coverage_report(c: Campaign) -> tuple[list[tuple[str, int]], list[str]]:
    """(row, count) for every row, and the rows never exercised."""
    rows = [(row, c.rows[row]) for row in ROWS]
    return rows, [row for row, n in rows if n == 0]

"""An executable reference model of the escrow (SPEC §1): plain Python, no chain.

Given the deployment timings, the roles and a sequence of calls (each with its caller and the block time it
runs at), the model says for every call whether it must succeed or which custom error -- name and values --
it must raise, and what every order, credit, reputation, nonce and ``availableActions`` bit is afterwards::

    model = Model(Timings(86_400, 3 * 86_400, 2 * 86_400), admin=a, fee_recipient=f, quote_signers={q},
                  arbiters={arb}, allowed_tokens={usdt})
    outcome = model.check(Call("accept", sender=client, ref=ref, now=t))   # does not mutate
    outcome = model.apply(Call("accept", sender=client, ref=ref, now=t))   # mutates on success only
    model.available_actions(ref, client, now)                               # the contract's bitmask
    model.windows(ref, client, now)                                         # what is possible and from when

It mirrors the contract's conventions: every call checks status, then caller, then arguments, then time, and the
first failing check is the error. Signed actions (``executeWithSig``) check expiry, nonce and signature first,
then decode the arguments, then run the same worker as the direct call with the signer as caller. Payouts are
credits read by ``withdrawable`` and paid out only by ``withdraw``.

Every successful call names the row of the SPEC's transition table it exercised (:data:`ROWS`), so a property
run can report its coverage; a failed call's kind is its error name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from offchain.eip712 import Action, Lateness, OrderTerms, Status

NATIVE = "0x0000000000000000000000000000000000000000"
ZERO_ADDRESS = NATIVE
ZERO_REF = b"\x00" * 32
DEFAULT_ADMIN_ROLE = b"\x00" * 32
BPS = 10_000
MAX_FEE_BPS = 2_000
UINT40_MAX = 2**40 - 1
UINT96_MAX = 2**96 - 1

#: Every row of the transition table the model can report, in the table's order (plus withdrawals and pause).
ROWS: tuple[str, ...] = (
    "fund native",
    "fund BEP-20",
    "fundWithSig",
    "AwaitingRequirements -cancel(client)-> Cancelled",
    "AwaitingRequirements -cancel(freelancer)-> Cancelled",
    "AwaitingRequirements -submitRequirements-> InProgress",
    "InProgress -deliver-> Delivered",
    "InRevision -deliver-> Delivered",
    "deliver OnTime",
    "deliver Overdue",
    "deliver SeriouslyOverdue",
    "InProgress -refundOverdue-> Refunded",
    "InRevision -refundOverdue-> Refunded",
    "Delivered -refundOverdue-> Refunded",
    "Delivered -accept-> Completed",
    "Delivered -finalize-> Completed",
    "Delivered -requestRevision-> RevisionRequested",
    "RevisionRequested -acknowledgeRevision-> InRevision",
    "RevisionRequested -startRevision-> InRevision",
    "proposeDeadline(client)",
    "proposeDeadline(freelancer)",
    "agreeDeadline",
    "Delivered -requestRefund-> RefundRequested",
    "RefundRequested -acceptRefund-> Refunded",
    "RefundRequested -refuseRefund-> Delivered",
    "RefundRequested -refuseRefund(3rd)-> Disputed",
    "RefundRequested -claimRefund-> Refunded",
    "InProgress -openDispute-> Disputed",
    "Delivered -openDispute-> Disputed",
    "RevisionRequested -openDispute-> Disputed",
    "InRevision -openDispute-> Disputed",
    "RefundRequested -openDispute-> Disputed",
    "Disputed -resolveDispute-> Resolved",
    "Disputed -settle-> Resolved",
    "review(client)",
    "review(freelancer)",
    "replyToReview(client)",
    "replyToReview(freelancer)",
    "executeWithSig",
    "withdraw native",
    "withdraw BEP-20",
    "pause",
    "unpause",
)

_STATUS_NAMES = {
    Status.NONE: "None",
    Status.AWAITING_REQUIREMENTS: "AwaitingRequirements",
    Status.IN_PROGRESS: "InProgress",
    Status.DELIVERED: "Delivered",
    Status.REVISION_REQUESTED: "RevisionRequested",
    Status.IN_REVISION: "InRevision",
    Status.REFUND_REQUESTED: "RefundRequested",
    Status.DISPUTED: "Disputed",
}

#: The actions ``executeWithSig`` refuses (their callers are not a party, or they have their own signatures).
NOT_SIGNABLE = frozenset({Action.FINALIZE, Action.START_REVISION, Action.RESOLVE_DISPUTE, Action.SETTLE, Action.FUND})
_NO_ARGS = frozenset(
    {
        Action.CANCEL,
        Action.REFUND_OVERDUE,
        Action.ACCEPT,
        Action.ACKNOWLEDGE_REVISION,
        Action.ACCEPT_REFUND,
        Action.REFUSE_REFUND,
        Action.CLAIM_REFUND,
    }
)
#: A signed action's function name, by action.
ACTION_FUNCTIONS: dict[Action, str] = {
    Action.CANCEL: "cancel",
    Action.SUBMIT_REQUIREMENTS: "submitRequirements",
    Action.DELIVER: "deliver",
    Action.REFUND_OVERDUE: "refundOverdue",
    Action.ACCEPT: "accept",
    Action.FINALIZE: "finalize",
    Action.REQUEST_REVISION: "requestRevision",
    Action.ACKNOWLEDGE_REVISION: "acknowledgeRevision",
    Action.START_REVISION: "startRevision",
    Action.PROPOSE_DEADLINE: "proposeDeadline",
    Action.AGREE_DEADLINE: "agreeDeadline",
    Action.REQUEST_REFUND: "requestRefund",
    Action.ACCEPT_REFUND: "acceptRefund",
    Action.REFUSE_REFUND: "refuseRefund",
    Action.CLAIM_REFUND: "claimRefund",
    Action.OPEN_DISPUTE: "openDispute",
    Action.RESOLVE_DISPUTE: "resolveDispute",
    Action.SETTLE: "settle",
    Action.REVIEW: "review",
    Action.REPLY_TO_REVIEW: "replyToReview",
}


def expected_args_length(action: Action) -> int:
    """The byte length of a signed action's ``args`` the contract decodes (-1: the action is not signable)."""
    if action in NOT_SIGNABLE:
        return -1
    if action in _NO_ARGS:
        return 0
    return 64 if action == Action.REVIEW else 32


# ---------------------------------------------------------------------------------------------------------------
# Calls and outcomes
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timings:
    """The deployment-wide timings (constructor arguments), in seconds."""

    response_window: int = 24 * 3600
    review_period: int = 3 * 86_400
    serious_delay: int = 48 * 3600


@dataclass(frozen=True)
class SignedAction:
    """A ``PartyAction`` as submitted to ``executeWithSig``: ``signer`` is whoever really signed it.

    ``args`` are the worker's arguments after the ref (as for a direct call); ``extra_args_bytes`` appends that
    many bytes to their encoding (a malformed action). ``valid_domain`` is False for a signature over another
    chain's or contract's domain.
    """

    party: str
    action: Action
    nonce: int
    deadline: int
    signer: str
    args: tuple[Any, ...] = ()
    extra_args_bytes: int = 0
    valid_domain: bool = True

    @property
    def args_length(self) -> int:
        base = {Action.REVIEW: 64}.get(self.action, 32 if self.args else 0)
        return base + self.extra_args_bytes


@dataclass(frozen=True)
class Call:
    """One transaction: the contract function ``fn`` sent by ``sender`` in a block at ``now``.

    ``args`` are the function's arguments after the ref (``(hash,)``, ``(newDeliverBy,)``, ``(rating, comment)``,
    ``(freelancerBps,)``, ``(token,)`` for withdraw). ``fund``/``fundWithSig`` carry ``terms``, who signed the
    quote (``quote_signer``) and, for ``fundWithSig``, who signed the consent. ``settle`` carries who signed each
    settlement and over which split (``settle_signers``, ``settle_bps``). ``executeWithSig`` carries ``signed``.
    """

    fn: str
    sender: str
    now: int
    ref: bytes = ZERO_REF
    args: tuple[Any, ...] = ()
    value: int = 0
    terms: OrderTerms | None = None
    quote_signer: str | None = None
    consent_signer: str | None = None
    settle_signers: tuple[str, str] | None = None
    settle_bps: tuple[int, int] | None = None
    signed: SignedAction | None = None

    def describe(self) -> str:
        """A readable one-liner, for counterexamples."""
        ref = "0x" + self.ref[:4].hex() if self.ref != ZERO_REF else ""
        parts = [ref] if ref else []
        if self.terms is not None:
            t = self.terms
            parts = [
                f"ref=0x{t.orderRef[:4].hex()} client={t.client[:8]} freelancer={t.freelancer[:8]} token={t.token[:8]}"
                f" amount={t.amount} feeBps={t.feeBps} duration={t.deliveryDuration} maxRev={t.maxRevisions}"
                f" expiry={t.quoteExpiry} quoteBy={(self.quote_signer or '')[:8]} value={self.value}"
            ]
        parts += [_short(a) for a in self.args]
        if self.signed is not None:
            s = self.signed
            parts.append(
                f"{ACTION_FUNCTIONS.get(s.action, s.action.name)}({', '.join(_short(a) for a in s.args)}) as"
                f" {s.party[:8]} signedBy={s.signer[:8]} nonce={s.nonce} deadline={s.deadline}"
                f"{' +' + str(s.extra_args_bytes) + 'B' if s.extra_args_bytes else ''}"
                f"{'' if s.valid_domain else ' wrongDomain'}"
            )
        if self.settle_signers is not None:
            parts.append(f"signers={[a[:8] for a in self.settle_signers]} bps={self.settle_bps}")
        return f"t={self.now} {self.sender[:8]}.{self.fn}({', '.join(parts)})"


def _short(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value[:4].hex()
    if isinstance(value, str) and value.startswith("0x"):
        return value[:8]
    return repr(value)


@dataclass(frozen=True)
class Ok:
    """The call succeeds; ``row`` is the transition-table row it exercised."""

    row: str
    rows: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class Error:
    """The call reverts with the custom error ``name(*values)`` (addresses checksummed, bytes32 as bytes)."""

    name: str
    values: tuple[Any, ...] = ()

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"{self.name}({', '.join(_short(v) if isinstance(v, bytes) else repr(v) for v in self.values)})"


Outcome = Ok | Error


class _Revert(Exception):
    def __init__(self, name: str, *values: Any) -> None:
        super().__init__(name)
        self.error = Error(name, tuple(values))


# ---------------------------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class OrderState:
    """One order as the contract stores it (plus the pending deadline proposal)."""

    terms: OrderTerms
    status: Status = Status.AWAITING_REQUIREMENTS
    deliver_by: int = 0
    #: reviewBy while Delivered, respondBy while RevisionRequested/RefundRequested; stale otherwise.
    deadline: int = 0
    revisions_used: int = 0
    refund_refusals: int = 0
    delivery_count: int = 0
    last_lateness: Lateness = Lateness.NONE
    client_rating: int = 0
    freelancer_rating: int = 0
    client_replied: bool = False
    freelancer_replied: bool = False
    proposer: str = ZERO_ADDRESS
    proposed: int = 0
    proposal_for: int = 0
    #: Paid out when the order became final: (client, freelancer, fee recipient).
    payout: tuple[int, int, int] | None = None

    @property
    def working(self) -> bool:
        return self.status in (Status.IN_PROGRESS, Status.IN_REVISION)

    def proposal_pending(self) -> bool:
        return self.proposer != ZERO_ADDRESS and self.proposal_for == self.delivery_count

    def view(self) -> tuple[Any, ...]:
        """``getOrder(ref)`` as web3 decodes it (terms with quoteExpiry 0)."""
        t = self.terms
        terms = (t.orderRef, t.client, t.freelancer, t.token, t.amount, t.feeBps, t.deliveryDuration, t.maxRevisions, 0)
        shown = self.proposal_pending() and self.working
        return (
            terms,
            int(self.status),
            self.deliver_by,
            self.deadline if self.status == Status.DELIVERED else 0,
            self.deadline if self.status in (Status.REVISION_REQUESTED, Status.REFUND_REQUESTED) else 0,
            self.revisions_used,
            self.refund_refusals,
            self.delivery_count,
            int(self.last_lateness),
            self.client_rating,
            self.freelancer_rating,
            self.client_replied,
            self.freelancer_replied,
            self.proposer if shown else ZERO_ADDRESS,
            self.proposed if shown else 0,
        )


def empty_view(ref: bytes) -> tuple[Any, ...]:
    """``getOrder`` of a ref that was never funded."""
    z = ZERO_ADDRESS
    return ((ref, z, z, z, 0, 0, 0, 0, 0), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, False, False, z, 0)


def completion(amount: int, fee_bps: int) -> tuple[int, int]:
    """(freelancer amount, fee) of a completed order: the fee rounds down."""
    fee = amount * fee_bps // BPS
    return amount - fee, fee


def split(amount: int, freelancer_bps: int, fee_bps: int) -> tuple[int, int, int]:
    """(client, freelancer, fee) of a dispute split: shares round down, the client takes the remainder."""
    share = amount * freelancer_bps // BPS
    fee = share * fee_bps // BPS
    return amount - share, share - fee, fee


def lateness(now: int, deliver_by: int, serious_delay: int) -> Lateness:
    if now <= deliver_by:
        return Lateness.ON_TIME
    if now <= deliver_by + serious_delay:
        return Lateness.OVERDUE
    return Lateness.SERIOUSLY_OVERDUE


@dataclass
class Model:
    """The whole escrow: orders, credits, reputation, nonces, pause, roles."""

    timings: Timings
    admin: str
    fee_recipient: str
    quote_signers: set[str] = field(default_factory=set)
    arbiters: set[str] = field(default_factory=set)
    allowed_tokens: set[str] = field(default_factory=set)
    paused: bool = False
    orders: dict[bytes, OrderState] = field(default_factory=dict)
    credits: dict[tuple[str, str], int] = field(default_factory=dict)
    reputation: dict[str, tuple[int, int]] = field(default_factory=dict)
    nonces: dict[str, int] = field(default_factory=dict)
    #: Everything withdrawn, per (token, account).
    withdrawn: dict[tuple[str, str], int] = field(default_factory=dict)

    # -- public API ------------------------------------------------------------------------------------------

    def check(self, call: Call) -> Outcome:
        """What ``call`` would do now, without changing the model."""
        try:
            row, _effect = self._plan(call)
        except _Revert as revert:
            return revert.error
        return Ok(row)

    def apply(self, call: Call) -> Outcome:
        """Run ``call``: on success its effects happen; on an error nothing changes."""
        try:
            row, effect = self._plan(call)
        except _Revert as revert:
            return revert.error
        extra = effect() or ()
        return Ok(row, (row, *extra))

    def clone(self) -> Model:
        return copy.deepcopy(self)

    def order(self, ref: bytes) -> OrderState | None:
        return self.orders.get(ref)

    def view(self, ref: bytes) -> tuple[Any, ...]:
        o = self.orders.get(ref)
        return o.view() if o else empty_view(ref)

    def withdrawable(self, token: str, account: str) -> int:
        return self.credits.get((token, account), 0)

    def reputation_of(self, account: str) -> tuple[int, int]:
        return self.reputation.get(account, (0, 0))

    def nonce_of(self, account: str) -> int:
        return self.nonces.get(account, 0)

    def available_actions(self, ref: bytes, account: str, now: int) -> int:
        """The ``availableActions(ref, account)`` bitmask at block time ``now``."""
        o = self.orders.get(ref)
        if o is None:
            return 0
        bits = 0

        def add(action: Action) -> None:
            nonlocal bits
            bits |= 1 << action

        is_client, is_freelancer = account == o.terms.client, account == o.terms.freelancer
        party = is_client or is_freelancer
        s = o.status
        if s == Status.AWAITING_REQUIREMENTS:
            if party:
                add(Action.CANCEL)
            if is_client:
                add(Action.SUBMIT_REQUIREMENTS)
        elif o.working:
            if is_freelancer:
                add(Action.DELIVER)
            if is_client and now > o.deliver_by + self.timings.serious_delay:
                add(Action.REFUND_OVERDUE)
            if party:
                add(Action.PROPOSE_DEADLINE)
                add(Action.OPEN_DISPUTE)
                if o.proposal_pending() and o.proposer != account and o.proposed > now:
                    add(Action.AGREE_DEADLINE)
        elif s == Status.DELIVERED:
            if is_client:
                add(Action.ACCEPT)
                add(Action.REQUEST_REFUND)
                if o.revisions_used < o.terms.maxRevisions:
                    add(Action.REQUEST_REVISION)
                if o.last_lateness == Lateness.SERIOUSLY_OVERDUE:
                    add(Action.REFUND_OVERDUE)
            if party:
                add(Action.OPEN_DISPUTE)
            if now > o.deadline:
                add(Action.FINALIZE)
        elif s == Status.REVISION_REQUESTED:
            if is_freelancer and now <= o.deadline:
                add(Action.ACKNOWLEDGE_REVISION)
            if now > o.deadline:
                add(Action.START_REVISION)
            if party:
                add(Action.OPEN_DISPUTE)
        elif s == Status.REFUND_REQUESTED:
            if is_freelancer:
                add(Action.ACCEPT_REFUND)
                if now <= o.deadline:
                    add(Action.REFUSE_REFUND)
            if is_client and now > o.deadline:
                add(Action.CLAIM_REFUND)
            if party:
                add(Action.OPEN_DISPUTE)
        elif s == Status.DISPUTED:
            if account in self.arbiters:
                add(Action.RESOLVE_DISPUTE)
            if party:
                add(Action.SETTLE)
        elif s in (Status.COMPLETED, Status.RESOLVED):
            if is_client:
                if o.client_rating == 0:
                    add(Action.REVIEW)
                if 0 < o.freelancer_rating < 4 and not o.client_replied:
                    add(Action.REPLY_TO_REVIEW)
            if is_freelancer:
                if o.freelancer_rating == 0:
                    add(Action.REVIEW)
                if 0 < o.client_rating < 4 and not o.freelancer_replied:
                    add(Action.REPLY_TO_REVIEW)
        return bits

    def windows(self, ref: bytes, account: str, now: int) -> dict[Action, tuple[int, int | None]]:
        """What ``account`` may do on ``ref`` now or later in the current status: action -> (from, until).

        ``from`` is the first block time the action is possible (``now`` if it is possible now), ``until`` the
        last (None: no time limit). Actions that only wait for time (finalize, startRevision, claimRefund,
        refundOverdue) appear with their future start; actions whose window has closed do not appear.
        """
        o = self.orders.get(ref)
        if o is None:
            return {}
        result: dict[Action, tuple[int, int | None]] = {}
        mask = self.available_actions(ref, account, now)
        for action in Action:
            if mask >> action & 1:
                result[action] = (now, None)
        is_client, is_freelancer = account == o.terms.client, account == o.terms.freelancer
        s = o.status
        if o.working and is_client:
            start = o.deliver_by + self.timings.serious_delay + 1
            result[Action.REFUND_OVERDUE] = (max(now, start), None)
        if s == Status.DELIVERED:
            result[Action.FINALIZE] = (max(now, o.deadline + 1), None)
        if s == Status.REVISION_REQUESTED:
            result[Action.START_REVISION] = (max(now, o.deadline + 1), None)
            if is_freelancer and now <= o.deadline:
                result[Action.ACKNOWLEDGE_REVISION] = (now, o.deadline)
        if s == Status.REFUND_REQUESTED:
            if is_client:
                result[Action.CLAIM_REFUND] = (max(now, o.deadline + 1), None)
            if is_freelancer and now <= o.deadline:
                result[Action.REFUSE_REFUND] = (now, o.deadline)
        if Action.AGREE_DEADLINE in result:
            result[Action.AGREE_DEADLINE] = (now, o.proposed - 1)
        return result

    # -- invariants over the model itself -------------------------------------------------------------------

    def locked(self, token: str) -> int:
        """What non-final orders in ``token`` hold."""
        return sum(o.terms.amount for o in self.orders.values() if o.terms.token == token and not o.status.final)

    def credited(self, token: str) -> int:
        return sum(v for (t, _), v in self.credits.items() if t == token)

    def escrow_balance(self, token: str) -> int:
        """What the escrow must hold of ``token``: locked amounts plus every unwithdrawn credit (solvency)."""
        return self.locked(token) + self.credited(token)

    # -- planning: checks first (raising _Revert), then an effect to run ----------------------------------

    def _plan(self, call: Call) -> tuple[str, Callable[[], tuple[str, ...] | None]]:
        fn = call.fn
        if fn == "fund":
            return self._fund(call)
        if fn == "fundWithSig":
            return self._fund_with_sig(call)
        if fn == "withdraw":
            return self._withdraw(call)
        if fn in ("pause", "unpause"):
            return self._pause(call, fn == "pause")
        if fn == "executeWithSig":
            return self._execute_with_sig(call)
        if fn == "resolveDispute":
            o = self._status(call.ref, Status.DISPUTED)
            if call.sender not in self.arbiters:
                raise _Revert("UnauthorizedCaller", call.ref, call.sender)
            return self._resolve(call.ref, o, call.args[0], settled=False)
        if fn == "settle":
            o = self._status(call.ref, Status.DISPUTED)
            bps = call.args[0]
            assert call.settle_signers is not None and call.settle_bps is not None
            for who, signer, signed_bps in zip(
                (o.terms.client, o.terms.freelancer), call.settle_signers, call.settle_bps, strict=True
            ):
                if signer != who or signed_bps != bps:
                    raise _Revert("InvalidSignature", who)
            return self._resolve(call.ref, o, bps, settled=True)
        if fn == "finalize":
            o = self._status(call.ref, Status.DELIVERED)
            self._after(call, o.deadline)
            return "Delivered -finalize-> Completed", lambda: self._complete(o)
        if fn == "startRevision":
            o = self._status(call.ref, Status.REVISION_REQUESTED)
            self._after(call, o.deadline)
            return "RevisionRequested -startRevision-> InRevision", lambda: self._begin_revision(o, call.now)
        return self._party(fn, call.ref, call.sender, call.args, call.now)

    def _execute_with_sig(self, call: Call) -> tuple[str, Callable[[], tuple[str, ...] | None]]:
        s = call.signed
        assert s is not None
        if call.now > s.deadline:
            raise _Revert("SignatureExpired", call.now, s.deadline)
        expected = self.nonce_of(s.party)
        if s.nonce != expected:
            raise _Revert("InvalidNonce", s.party, expected, s.nonce)
        if s.signer != s.party or not s.valid_domain:
            raise _Revert("InvalidSignature", s.party)
        action = s.action
        want = expected_args_length(action)
        if want < 0:
            raise _Revert("ActionNotSignable", int(action))
        if s.args_length != want:
            raise _Revert("InvalidActionArgs", int(action), s.args_length)
        if action == Action.REVIEW and not 1 <= s.args[0] <= 5:
            raise _Revert("InvalidRating", min(s.args[0], 255))
        row, effect = self._party(ACTION_FUNCTIONS[action], call.ref, s.party, s.args, call.now)

        def run() -> tuple[str, ...]:
            self.nonces[s.party] = expected + 1
            return (row, *(effect() or ()))

        return "executeWithSig", run

    def _party(
        self, fn: str, ref: bytes, caller: str, args: tuple[Any, ...], now: int
    ) -> tuple[str, Callable[[], tuple[str, ...] | None]]:
        """The workers shared by direct calls and signed actions (``caller`` is authenticated)."""
        o = self.orders.get(ref)
        status = o.status if o else Status.NONE

        def wrong() -> _Revert:
            return _Revert("WrongStatus", ref, int(status))

        def unauthorized() -> _Revert:
            return _Revert("UnauthorizedCaller", ref, caller)

        if fn == "cancel":
            o = self._status(ref, Status.AWAITING_REQUIREMENTS)
            if caller not in (o.terms.client, o.terms.freelancer):
                raise unauthorized()
            who = "client" if caller == o.terms.client else "freelancer"
            return f"AwaitingRequirements -cancel({who})-> Cancelled", lambda: self._refund(o, Status.CANCELLED)
        if fn == "submitRequirements":
            o = self._status(ref, Status.AWAITING_REQUIREMENTS)
            if caller != o.terms.client:
                raise unauthorized()

            def submit() -> None:
                o.status = Status.IN_PROGRESS
                o.deliver_by = now + o.terms.deliveryDuration

            return "AwaitingRequirements -submitRequirements-> InProgress", submit
        if fn == "deliver":
            if o is None or not o.working:
                raise wrong()
            if caller != o.terms.freelancer:
                raise unauthorized()
            late = lateness(now, o.deliver_by, self.timings.serious_delay)
            row = f"{_STATUS_NAMES[o.status]} -deliver-> Delivered"

            def deliver() -> tuple[str, ...]:
                o.status = Status.DELIVERED
                o.delivery_count += 1
                o.deadline = now + self.timings.review_period
                o.last_lateness = late
                return (
                    {Lateness.ON_TIME: "deliver OnTime", Lateness.OVERDUE: "deliver Overdue"}.get(
                        late, "deliver SeriouslyOverdue"
                    ),
                )

            return row, deliver
        if fn == "refundOverdue":
            if o is not None and o.working:
                if caller != o.terms.client:
                    raise unauthorized()
                self._after_at(ref, now, o.deliver_by + self.timings.serious_delay)
            elif o is not None and status == Status.DELIVERED:
                if caller != o.terms.client:
                    raise unauthorized()
                if o.last_lateness != Lateness.SERIOUSLY_OVERDUE:
                    raise _Revert("NotSeriouslyOverdue", ref, int(o.last_lateness))
            else:
                raise wrong()
            order = o
            return f"{_STATUS_NAMES[status]} -refundOverdue-> Refunded", lambda: self._refund(order, Status.REFUNDED)
        if fn == "accept":
            o = self._status(ref, Status.DELIVERED)
            if caller != o.terms.client:
                raise unauthorized()
            order = o
            return "Delivered -accept-> Completed", lambda: self._complete(order)
        if fn == "requestRevision":
            o = self._status(ref, Status.DELIVERED)
            if caller != o.terms.client:
                raise unauthorized()
            if o.revisions_used >= o.terms.maxRevisions:
                raise _Revert("RevisionLimitReached", ref, o.terms.maxRevisions)
            order = o

            def request_revision() -> None:
                order.status = Status.REVISION_REQUESTED
                order.revisions_used += 1
                order.deadline = now + self.timings.response_window

            return "Delivered -requestRevision-> RevisionRequested", request_revision
        if fn == "acknowledgeRevision":
            o = self._status(ref, Status.REVISION_REQUESTED)
            if caller != o.terms.freelancer:
                raise unauthorized()
            if now > o.deadline:
                raise _Revert("TooLate", ref, now, o.deadline)
            order = o
            return "RevisionRequested -acknowledgeRevision-> InRevision", lambda: self._begin_revision(order, now)
        if fn in ("proposeDeadline", "agreeDeadline"):
            if o is None or not o.working:
                raise wrong()
            if caller not in (o.terms.client, o.terms.freelancer):
                raise unauthorized()
            date = args[0]
            order = o
            if fn == "proposeDeadline":
                self._future(ref, now, date)

                def propose() -> None:
                    order.proposer, order.proposed, order.proposal_for = caller, date, order.delivery_count

                who = "client" if caller == o.terms.client else "freelancer"
                return f"proposeDeadline({who})", propose
            pending = o.proposal_pending()
            if not pending or o.proposer == caller or o.proposed != date:
                raise _Revert("DeadlineMismatch", ref, o.proposed if pending and o.proposer != caller else 0, date)
            self._future(ref, now, date)

            def agree() -> None:
                order.proposer, order.proposed, order.proposal_for = ZERO_ADDRESS, 0, 0
                order.deliver_by = date

            return "agreeDeadline", agree
        if fn == "requestRefund":
            o = self._status(ref, Status.DELIVERED)
            if caller != o.terms.client:
                raise unauthorized()
            order = o

            def request_refund() -> None:
                order.status = Status.REFUND_REQUESTED
                order.deadline = now + self.timings.response_window

            return "Delivered -requestRefund-> RefundRequested", request_refund
        if fn == "acceptRefund":
            o = self._status(ref, Status.REFUND_REQUESTED)
            if caller != o.terms.freelancer:
                raise unauthorized()
            order = o
            return "RefundRequested -acceptRefund-> Refunded", lambda: self._refund(order, Status.REFUNDED)
        if fn == "refuseRefund":
            o = self._status(ref, Status.REFUND_REQUESTED)
            if caller != o.terms.freelancer:
                raise unauthorized()
            if now > o.deadline:
                raise _Revert("TooLate", ref, now, o.deadline)
            order = o
            third = o.refund_refusals + 1 > 2

            def refuse() -> None:
                order.refund_refusals += 1
                if third:
                    order.status = Status.DISPUTED
                else:
                    order.status = Status.DELIVERED
                    order.deadline = now + self.timings.review_period

            if third:
                return "RefundRequested -refuseRefund(3rd)-> Disputed", refuse
            return "RefundRequested -refuseRefund-> Delivered", refuse
        if fn == "claimRefund":
            o = self._status(ref, Status.REFUND_REQUESTED)
            if caller != o.terms.client:
                raise unauthorized()
            self._after_at(ref, now, o.deadline)
            order = o
            return "RefundRequested -claimRefund-> Refunded", lambda: self._refund(order, Status.REFUNDED)
        if fn == "openDispute":
            if o is None or not Status.IN_PROGRESS <= status <= Status.REFUND_REQUESTED:
                raise wrong()
            if caller not in (o.terms.client, o.terms.freelancer):
                raise unauthorized()
            order = o

            def dispute() -> None:
                order.status = Status.DISPUTED

            return f"{_STATUS_NAMES[status]} -openDispute-> Disputed", dispute
        if fn == "review":
            if o is None or status not in (Status.COMPLETED, Status.RESOLVED):
                raise wrong()
            if caller not in (o.terms.client, o.terms.freelancer):
                raise unauthorized()
            rating = args[0]
            if not 1 <= rating <= 5:
                raise _Revert("InvalidRating", rating)
            is_client = caller == o.terms.client
            if (o.client_rating if is_client else o.freelancer_rating) != 0:
                raise _Revert("AlreadyReviewed", ref, caller)
            order = o
            reviewee = o.terms.freelancer if is_client else o.terms.client

            def review() -> None:
                if is_client:
                    order.client_rating = rating
                else:
                    order.freelancer_rating = rating
                total, count = self.reputation_of(reviewee)
                self.reputation[reviewee] = (total + rating, count + 1)

            return f"review({'client' if is_client else 'freelancer'})", review
        if fn == "replyToReview":
            if o is None or status not in (Status.COMPLETED, Status.RESOLVED):
                raise wrong()
            if caller not in (o.terms.client, o.terms.freelancer):
                raise unauthorized()
            is_client = caller == o.terms.client
            received = o.freelancer_rating if is_client else o.client_rating
            replied = o.client_replied if is_client else o.freelancer_replied
            if received == 0 or received >= 4 or replied:
                raise _Revert("ReplyNotAllowed", ref, caller, received)
            order = o

            def reply() -> None:
                if is_client:
                    order.client_replied = True
                else:
                    order.freelancer_replied = True

            return f"replyToReview({'client' if is_client else 'freelancer'})", reply
        raise ValueError(f"the model does not know {fn!r}")

    # -- funding, money, admin ----------------------------------------------------------------------------

    def _fund(self, call: Call) -> tuple[str, Callable[[], tuple[str, ...] | None]]:
        t = call.terms
        assert t is not None
        if self.paused:
            raise _Revert("EnforcedPause")
        if call.sender != t.client:
            raise _Revert("UnauthorizedCaller", t.orderRef, call.sender)
        if t.token == NATIVE:
            if call.value != t.amount:
                raise _Revert("WrongNativeAmount", t.amount, call.value)
        elif call.value != 0:
            raise _Revert("WrongNativeAmount", 0, call.value)
        self._open_checks(call)
        return ("fund native" if t.token == NATIVE else "fund BEP-20"), lambda: self._open(t)

    def _fund_with_sig(self, call: Call) -> tuple[str, Callable[[], tuple[str, ...] | None]]:
        t = call.terms
        assert t is not None
        if self.paused:
            raise _Revert("EnforcedPause")
        if t.token == NATIVE:
            raise _Revert("InvalidTerms", t.orderRef, "token")
        if call.consent_signer != t.client:
            raise _Revert("InvalidSignature", t.client)
        self._open_checks(call)
        return "fundWithSig", lambda: self._open(t)

    def _open_checks(self, call: Call) -> None:
        t = call.terms
        assert t is not None
        ref = t.orderRef
        if ref in self.orders:
            raise _Revert("OrderExists", ref)
        if ref == ZERO_REF:
            raise _Revert("InvalidTerms", ref, "orderRef")
        if t.freelancer in (ZERO_ADDRESS, t.client):
            raise _Revert("InvalidTerms", ref, "freelancer")
        if t.amount == 0 or t.amount > UINT96_MAX:
            raise _Revert("InvalidTerms", ref, "amount")
        if t.deliveryDuration == 0:
            raise _Revert("InvalidTerms", ref, "deliveryDuration")
        if t.feeBps > MAX_FEE_BPS:
            raise _Revert("FeeTooHigh", t.feeBps, MAX_FEE_BPS)
        if t.token != NATIVE and t.token not in self.allowed_tokens:
            raise _Revert("TokenNotAllowed", t.token)
        if call.now > t.quoteExpiry:
            raise _Revert("QuoteExpired", ref, call.now, t.quoteExpiry)
        if call.quote_signer not in self.quote_signers:
            raise _Revert("InvalidQuoteSignature", ref, call.quote_signer)

    def _open(self, terms: OrderTerms) -> None:
        self.orders[terms.orderRef] = OrderState(terms=terms)

    def _withdraw(self, call: Call) -> tuple[str, Callable[[], tuple[str, ...] | None]]:
        token = call.args[0]
        key = (token, call.sender)
        amount = self.credits.get(key, 0)
        if amount == 0:
            raise _Revert("NothingToWithdraw", token, call.sender)

        def withdraw() -> None:
            del self.credits[key]
            self.withdrawn[key] = self.withdrawn.get(key, 0) + amount

        return ("withdraw native" if token == NATIVE else "withdraw BEP-20"), withdraw

    def _pause(self, call: Call, pause: bool) -> tuple[str, Callable[[], tuple[str, ...] | None]]:
        if call.sender != self.admin:
            raise _Revert("AccessControlUnauthorizedAccount", call.sender, DEFAULT_ADMIN_ROLE)
        if pause and self.paused:
            raise _Revert("EnforcedPause")
        if not pause and not self.paused:
            raise _Revert("ExpectedPause")

        def flip() -> None:
            self.paused = pause

        return ("pause" if pause else "unpause"), flip

    def _credit(self, token: str, account: str, amount: int) -> None:
        if amount:
            self.credits[(token, account)] = self.credits.get((token, account), 0) + amount

    def _refund(self, o: OrderState, status: Status) -> None:
        o.status = status
        o.payout = (o.terms.amount, 0, 0)
        self._credit(o.terms.token, o.terms.client, o.terms.amount)

    def _complete(self, o: OrderState) -> None:
        freelancer_amount, fee = completion(o.terms.amount, o.terms.feeBps)
        o.status = Status.COMPLETED
        o.payout = (0, freelancer_amount, fee)
        self._credit(o.terms.token, o.terms.freelancer, freelancer_amount)
        self._credit(o.terms.token, self.fee_recipient, fee)

    def _resolve(
        self, ref: bytes, o: OrderState, bps: int, *, settled: bool
    ) -> tuple[str, Callable[[], tuple[str, ...] | None]]:
        if bps > BPS:
            raise _Revert("InvalidSplit", bps)

        def resolve() -> None:
            client_amount, freelancer_amount, fee = split(o.terms.amount, bps, o.terms.feeBps)
            o.status = Status.RESOLVED
            o.payout = (client_amount, freelancer_amount, fee)
            self._credit(o.terms.token, o.terms.client, client_amount)
            self._credit(o.terms.token, o.terms.freelancer, freelancer_amount)
            self._credit(o.terms.token, self.fee_recipient, fee)

        return ("Disputed -settle-> Resolved" if settled else "Disputed -resolveDispute-> Resolved"), resolve

    def _begin_revision(self, o: OrderState, now: int) -> None:
        o.status = Status.IN_REVISION
        o.deliver_by = now + o.terms.deliveryDuration

    # -- check helpers -----------------------------------------------------------------------------------

    def _status(self, ref: bytes, expected: Status) -> OrderState:
        o = self.orders.get(ref)
        current = o.status if o else Status.NONE
        if current != expected or o is None:
            raise _Revert("WrongStatus", ref, int(current))
        return o

    def _after(self, call: Call, deadline: int) -> None:
        self._after_at(call.ref, call.now, deadline)

    @staticmethod
    def _after_at(ref: bytes, now: int, deadline: int) -> None:
        """Possible only strictly after ``deadline``."""
        if now <= deadline:
            raise _Revert("TooEarly", ref, now, deadline + 1)

    @staticmethod
    def _future(ref: bytes, now: int, date: int) -> None:
        if date <= now or date > UINT40_MAX:
            raise _Revert("DeadlineNotInFuture", ref, now, date)

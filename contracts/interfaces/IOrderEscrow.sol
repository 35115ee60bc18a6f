// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/**
 * @dev The escrow of an AI-freelancer marketplace: one contract holds every order, from funding on a
 * platform-signed quote to payout through a pull-payment ledger. The platform can price orders,
 * arbitrate disputes and pause new orders; it can never move an order's money anywhere but to that
 * order's client or freelancer.
 *
 * Status values, action ids and the EIP-712 types below are part of the interface: the relayer, the
 * backend and the auditors' model code against them.
 */
interface IOrderEscrow {
    // ==== TYPES ====

    /// @dev Where an order is in its life. Completed, Cancelled, Refunded and Resolved are final.
    enum Status {
        None, // 0: no order with this ref (never funded)
        AwaitingRequirements, // 1: funded; the client has not submitted requirements yet
        InProgress, // 2: requirements in; the freelancer works towards `deliverBy`
        Delivered, // 3: a delivery awaits the client's review until `reviewBy`
        RevisionRequested, // 4: the client asked for a revision; the freelancer answers by `respondBy`
        InRevision, // 5: the freelancer reworks towards a new `deliverBy`
        RefundRequested, // 6: the client asked for a refund; the freelancer answers by `respondBy`
        Disputed, // 7: customer support (the arbiter) decides, or both parties settle
        Completed, // 8: final; the freelancer was paid
        Cancelled, // 9: final; the client got everything back before work started
        Refunded, // 10: final; the client got everything back
        Resolved // 11: final; split by the arbiter or by both parties' signed settlement
    }

    /// @dev How late a delivery was: OnTime <= deliverBy < Overdue <= deliverBy + seriousDelay < SeriouslyOverdue.
    enum Lateness {
        None, // no delivery yet
        OnTime,
        Overdue,
        SeriouslyOverdue
    }

    /**
     * @dev The actions of the order lifecycle. `availableActions` returns a bitmask with bit `uint8(action)`
     * set for each action an account may call now; signed actions name the action by this id.
     */
    enum Action {
        Cancel, // 0
        SubmitRequirements, // 1
        Deliver, // 2
        RefundOverdue, // 3
        Accept, // 4
        Finalize, // 5
        RequestRevision, // 6
        AcknowledgeRevision, // 7
        StartRevision, // 8
        ProposeDeadline, // 9
        AgreeDeadline, // 10
        RequestRefund, // 11
        AcceptRefund, // 12
        RefuseRefund, // 13
        ClaimRefund, // 14
        OpenDispute, // 15
        ResolveDispute, // 16
        Settle, // 17
        Review, // 18
        ReplyToReview, // 19
        Fund // 20: only as the client's consent in {fundWithSig}
    }

    /// @dev The terms of an order, fixed when funded and signed by the quote signer (EIP-712 type `OrderTerms`).
    struct OrderTerms {
        /// @dev The platform's order id; used once, ever.
        bytes32 orderRef;
        /// @dev Who pays.
        address client;
        /// @dev Who delivers.
        address freelancer;
        /// @dev address(0) for native BNB, otherwise an allow-listed BEP-20.
        address token;
        /// @dev What the client locks; at most type(uint96).max.
        uint256 amount;
        /// @dev The platform fee on the freelancer's payout, in basis points, at most MAX_FEE_BPS.
        uint16 feeBps;
        /// @dev The gig's delivery time, in seconds, counted from requirements (or a started revision).
        uint32 deliveryDuration;
        /// @dev How many revisions the gig includes.
        uint8 maxRevisions;
        /// @dev The quote may be funded until (and including) this timestamp.
        uint64 quoteExpiry;
    }

    /**
     * @dev A party's action submitted by anyone carrying the party's signature (EIP-712 type `PartyAction`).
     * `args` is the ABI encoding of the action's arguments after the ref (e.g. `abi.encode(reasonHash)` for
     * RequestRevision, `abi.encode(rating, commentHash)` for Review, empty for Accept). For Fund it is
     * `abi.encode(hashOrderTerms(terms))`.
     */
    struct PartyAction {
        address party;
        Action action;
        bytes32 orderRef;
        bytes args;
        uint256 nonce;
        uint256 deadline;
    }

    /// @dev Everything there is to read about an order.
    struct OrderView {
        /// @dev The funded terms; `quoteExpiry` is not stored (it only matters until funding) and reads 0.
        OrderTerms terms;
        Status status;
        /// @dev When the current work must be delivered (0 before requirements).
        uint64 deliverBy;
        /// @dev Until when the client reviews the latest delivery (Delivered only, else 0).
        uint64 reviewBy;
        /// @dev Until when the freelancer answers a revision or refund request (those statuses only, else 0).
        uint64 respondBy;
        uint8 revisionsUsed;
        uint8 refundRefusals;
        uint16 deliveryCount;
        /// @dev The lateness of the latest delivery.
        Lateness lastLateness;
        /// @dev The rating the client gave the freelancer (0 = none yet).
        uint8 clientRating;
        /// @dev The rating the freelancer gave the client (0 = none yet).
        uint8 freelancerRating;
        bool clientReplied;
        bool freelancerReplied;
        /// @dev A pending deadline proposal: who proposed it (address(0) if none) and the date.
        address deadlineProposer;
        uint64 proposedDeliverBy;
    }

    /// @dev Per-account reputation from reviews received.
    struct Reputation {
        uint128 ratingSum;
        uint128 ratingCount;
    }

    // ==== EVENTS ====

    /// @dev Emitted when an order is funded and its amount locked (the rest of the terms: {getOrder}).
    event OrderFunded(bytes32 indexed ref, address indexed client, address indexed freelancer, address token, uint256 amount);
    /// @dev Emitted when an order is cancelled before work started; `by` is the client or the declining freelancer.
    event OrderCancelled(bytes32 indexed ref, address indexed by, uint256 refunded);
    /// @dev Emitted when the client submitted requirements; work is due by `deliverBy`.
    event RequirementsSubmitted(bytes32 indexed ref, bytes32 requirementsHash, uint64 deliverBy);
    /// @dev Emitted for every delivery: the delivery history is this event's log.
    event Delivered(bytes32 indexed ref, uint16 index, bytes32 deliverableHash, Lateness lateness, uint64 reviewBy);
    /// @dev Emitted when an order completed: accepted by the client, or finalized after the review period.
    event OrderCompleted(bytes32 indexed ref, address indexed by, bool finalized, uint256 freelancerAmount, uint256 fee);
    /// @dev Emitted when the client requested a revision; the freelancer answers by `respondBy`.
    event RevisionRequested(bytes32 indexed ref, bytes32 reasonHash, uint8 revisionsUsed, uint64 respondBy);
    /// @dev Emitted when a revision started: acknowledged by the freelancer, or started after the response window.
    event RevisionStarted(bytes32 indexed ref, bool acknowledged, uint64 deliverBy);
    /// @dev Emitted when a party proposed a new delivery date.
    event DeadlineProposed(bytes32 indexed ref, address indexed proposer, uint64 newDeliverBy);
    /// @dev Emitted when the other party agreed to the proposed delivery date.
    event DeadlineAgreed(bytes32 indexed ref, uint64 deliverBy);
    /// @dev Emitted when the client requested a refund; the freelancer answers by `respondBy`.
    event RefundRequested(bytes32 indexed ref, bytes32 reasonHash, uint64 respondBy);
    /// @dev Emitted when the freelancer refused a refund; the review clock restarted (or a dispute opened).
    event RefundRefused(bytes32 indexed ref, uint8 refusals, uint64 reviewBy);
    /// @dev Why an order was refunded.
    enum RefundReason {
        SeriouslyOverdue,
        AcceptedByFreelancer,
        FreelancerSilent
    }
    /// @dev Emitted when an order's whole amount went back to the client.
    event OrderRefunded(bytes32 indexed ref, RefundReason reason, uint256 amount);
    /// @dev Emitted when a dispute opened; `by` is the freelancer on a third refusal (reasonHash 0).
    event DisputeOpened(bytes32 indexed ref, address indexed by, bytes32 reasonHash);
    /// @dev Emitted when a dispute ended with a split, by the arbiter or by both parties' settlement.
    event DisputeResolved(
        bytes32 indexed ref,
        bool settled,
        uint16 freelancerBps,
        uint256 clientAmount,
        uint256 freelancerAmount,
        uint256 fee
    );
    /// @dev Emitted when a party reviewed the other.
    event Reviewed(bytes32 indexed ref, address indexed reviewer, address indexed reviewee, uint8 rating, bytes32 commentHash);
    /// @dev Emitted when the reviewed party replied to a review below 4 stars.
    event ReviewReplied(bytes32 indexed ref, address indexed replier, bytes32 replyHash);
    /// @dev Emitted when an account withdrew its whole balance of `token`.
    event Withdrawn(address indexed token, address indexed account, uint256 amount);
    /// @dev Emitted when a party's signed action was executed by someone else.
    event SignedActionExecuted(address indexed party, Action action, bytes32 indexed ref, uint256 nonce);
    /// @dev Emitted when the admin changed the fee recipient.
    event FeeRecipientChanged(address indexed previous, address indexed current);
    /// @dev Emitted when the admin allowed or disallowed a BEP-20.
    event TokenAllowed(address indexed token, bool allowed);

    // ==== ERRORS ====

    /// @dev The order is in `current`, where this call is not possible.
    error WrongStatus(bytes32 ref, Status current);
    /// @dev `caller` may not make this call on this order.
    error UnauthorizedCaller(bytes32 ref, address caller);
    /// @dev The call becomes possible at `availableAt` (it is `now_`).
    error TooEarly(bytes32 ref, uint64 now_, uint64 availableAt);
    /// @dev The call was possible until `deadline` (it is `now_`).
    error TooLate(bytes32 ref, uint64 now_, uint64 deadline);
    /// @dev An order with this ref exists already (refs are used once, ever).
    error OrderExists(bytes32 ref);
    /// @dev The quote expired at `expiry` (it is `now_`).
    error QuoteExpired(bytes32 ref, uint64 now_, uint64 expiry);
    /// @dev The quote was not signed by an account with the quote-signer role (`recovered` signed it).
    error InvalidQuoteSignature(bytes32 ref, address recovered);
    /// @dev `token` is not on the allowlist.
    error TokenNotAllowed(address token);
    /// @dev The call sent `received` wei where `expected` was due.
    error WrongNativeAmount(uint256 expected, uint256 received);
    /// @dev The escrow received `received` of `token` for an `expected` amount (fee-on-transfer tokens are refused).
    error TransferAmountMismatch(address token, uint256 expected, uint256 received);
    /// @dev `feeBps` exceeds `maxFeeBps`.
    error FeeTooHigh(uint16 feeBps, uint16 maxFeeBps);
    /// @dev The terms are malformed; `field` names what is wrong (e.g. "amount", "freelancer", "deliveryDuration").
    error InvalidTerms(bytes32 ref, string field);
    /// @dev All `maxRevisions` revisions are used.
    error RevisionLimitReached(bytes32 ref, uint8 maxRevisions);
    /// @dev The latest delivery was `lateness`, not seriously overdue.
    error NotSeriouslyOverdue(bytes32 ref, Lateness lateness);
    /// @dev No deadline proposal from the other party matches `newDeliverBy` (`proposed` is pending, 0 if none).
    error DeadlineMismatch(bytes32 ref, uint64 proposed, uint64 newDeliverBy);
    /// @dev The proposed delivery date is not in the future.
    error DeadlineNotInFuture(bytes32 ref, uint64 now_, uint64 newDeliverBy);
    /// @dev A split must be 0..10000 basis points.
    error InvalidSplit(uint16 freelancerBps);
    /// @dev A rating is 1..5.
    error InvalidRating(uint8 rating);
    /// @dev `reviewer` already reviewed this order.
    error AlreadyReviewed(bytes32 ref, address reviewer);
    /// @dev Only a party that received a rating below 4 may reply, once (`rating` is what it received; 0 = none).
    error ReplyNotAllowed(bytes32 ref, address caller, uint8 rating);
    /// @dev `account` has no balance of `token` to withdraw.
    error NothingToWithdraw(address token, address account);
    /// @dev The signature is not `party`'s (or `party`'s wallet rejected it).
    error InvalidSignature(address party);
    /// @dev The signed action expired at `deadline` (it is `now_`).
    error SignatureExpired(uint256 now_, uint256 deadline);
    /// @dev The signed action carries nonce `given`; `party`'s next nonce is `expected`.
    error InvalidNonce(address party, uint256 expected, uint256 given);
    /// @dev The signed action's `args` (`length` bytes) are not the encoding `action` takes.
    error InvalidActionArgs(Action action, uint256 length);
    /// @dev This action cannot be signed (resolution is the arbiter's; settlement has its own signatures).
    error ActionNotSignable(Action action);
    /// @dev The fee recipient cannot be the zero address.
    error ZeroFeeRecipient();
    /// @dev A deployment timing must be between 1 second and 365 days; `name` says which.
    error InvalidTiming(string name, uint64 value);

    // ==== FUNDING ====

    /// @notice Lock `terms.amount` on a quote the quote signer signed; the caller is the client.
    function fund(OrderTerms calldata terms, bytes calldata quoteSig) external payable;

    /**
     * @notice Lock a BEP-20 order for the client with the client's signed consent; pulls with transferFrom.
     * @dev `clientSig` signs the `PartyAction` {party: client, action: Fund, orderRef, args:
     * abi.encode(hashOrderTerms(terms)), nonce: 0, deadline: quoteExpiry}; the single-use ref makes a nonce unneeded.
     */
    function fundWithSig(OrderTerms calldata terms, bytes calldata quoteSig, bytes calldata clientSig) external;

    // ==== PARTY ACTIONS ====

    function cancel(bytes32 ref) external;
    function submitRequirements(bytes32 ref, bytes32 requirementsHash) external;
    function deliver(bytes32 ref, bytes32 deliverableHash) external;
    function refundOverdue(bytes32 ref) external;
    function accept(bytes32 ref) external;
    function finalize(bytes32 ref) external;
    function requestRevision(bytes32 ref, bytes32 reasonHash) external;
    function acknowledgeRevision(bytes32 ref) external;
    function startRevision(bytes32 ref) external;
    function proposeDeadline(bytes32 ref, uint64 newDeliverBy) external;
    function agreeDeadline(bytes32 ref, uint64 newDeliverBy) external;
    function requestRefund(bytes32 ref, bytes32 reasonHash) external;
    function acceptRefund(bytes32 ref) external;
    function refuseRefund(bytes32 ref) external;
    function claimRefund(bytes32 ref) external;
    function openDispute(bytes32 ref, bytes32 reasonHash) external;
    function resolveDispute(bytes32 ref, uint16 freelancerBps) external;
    function settle(bytes32 ref, uint16 freelancerBps, bytes calldata clientSig, bytes calldata freelancerSig) external;
    function review(bytes32 ref, uint8 rating, bytes32 commentHash) external;
    function replyToReview(bytes32 ref, bytes32 replyHash) external;

    /// @notice Execute `action` on behalf of `action.party`, who signed it.
    function executeWithSig(PartyAction calldata action, bytes calldata signature) external;

    // ==== WITHDRAW ====

    /// @notice Send the caller its whole balance of `token` (address(0) for BNB).
    function withdraw(address token) external;

    // ==== VIEWS ====

    function getOrder(bytes32 ref) external view returns (OrderView memory);
    function availableActions(bytes32 ref, address account) external view returns (uint256 mask);
    function withdrawable(address token, address account) external view returns (uint256);
    function reputationOf(address account) external view returns (Reputation memory);
    function nonces(address account) external view returns (uint256);
    function hashOrderTerms(OrderTerms calldata terms) external pure returns (bytes32);
    function hashPartyAction(PartyAction calldata action) external view returns (bytes32);
    function hashSettlement(bytes32 ref, uint16 freelancerBps) external view returns (bytes32);
}

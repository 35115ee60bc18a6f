// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IOrderEscrow} from "./interfaces/IOrderEscrow.sol";
import {OrderMath} from "./libraries/OrderMath.sol";

/**
 * @title OrderEscrow
 * @dev One immutable contract holds every order of the marketplace, from funding on a platform-signed
 * quote to payout. The order lifecycle is the marketplace's order-flow article; see
 * `docs/state-machine.md` for the table and `docs/SECURITY.md` for the trust model.
 *
 * Every call checks, in this order: the order's status, the caller, the arguments, the time; the first
 * failing check reverts with a custom error that carries the values that failed. A signed action
 * ({executeWithSig}) first checks its expiry, the party's nonce, the signature and the encoding of its
 * arguments, then runs the same checks as the direct call.
 *
 * Money never leaves except through {withdraw}: payouts and refunds are credited to a per-(token,
 * account) balance (pull payments), so a receiver that reverts or re-enters cannot block an order.
 *
 * NOTE: Only what the rules need is stored per order (3 storage slots). The delivery history -- index,
 * deliverable hash, time, lateness -- is the log of {Delivered} events; the order keeps the delivery
 * count and the latest delivery's lateness.
 */
contract OrderEscrow is IOrderEscrow, EIP712, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    // ==== CONSTANTS ====

    /// @dev May sign order quotes.
    bytes32 public constant QUOTE_SIGNER_ROLE = keccak256("QUOTE_SIGNER_ROLE");
    /// @dev Customer service: may resolve disputed orders with a split.
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    /// @dev The platform fee is at most 20% of the freelancer's payout.
    uint16 public constant MAX_FEE_BPS = 2_000;

    bytes32 public constant ORDER_TERMS_TYPEHASH = keccak256(
        "OrderTerms(bytes32 orderRef,address client,address freelancer,address token,uint256 amount,uint16 feeBps,uint32 deliveryDuration,uint8 maxRevisions,uint64 quoteExpiry)"
    );
    bytes32 public constant PARTY_ACTION_TYPEHASH = keccak256(
        "PartyAction(address party,uint8 action,bytes32 orderRef,bytes args,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant SETTLEMENT_TYPEHASH = keccak256("Settlement(bytes32 orderRef,uint16 freelancerBps)");

    // ==== STORAGE ====

    /// @dev An order, packed into three slots.
    struct Order {
        // slot 0
        /// @dev Who pays; receives refunds.
        address client;
        /// @dev Where the order is.
        Status status;
        /// @dev Platform fee on the freelancer's payout, in basis points.
        uint16 feeBps;
        /// @dev Revisions included in the gig.
        uint8 maxRevisions;
        /// @dev Revisions requested so far.
        uint8 revisionsUsed;
        /// @dev Refund requests the freelancer refused so far (the 3rd opens a dispute).
        uint8 refundRefusals;
        /// @dev Deliveries made so far.
        uint16 deliveryCount;
        /// @dev The gig's delivery time in seconds.
        uint32 deliveryDuration;
        // slot 1
        /// @dev Who delivers; receives the payout.
        address freelancer;
        /// @dev When the current work is due.
        uint40 deliverBy;
        /// @dev reviewBy while Delivered, respondBy while RevisionRequested or RefundRequested; stale otherwise.
        uint40 deadline;
        /// @dev The lateness of the latest delivery.
        Lateness lastLateness;
        /// @dev Bits 0-2: the client's rating; 3-5: the freelancer's rating; 6: client replied; 7: freelancer replied.
        uint8 reviews;
        // slot 2
        /// @dev address(0) for BNB.
        address token;
        /// @dev The locked amount.
        uint96 amount;
    }

    /// @dev A pending proposal of a new delivery date, valid for the work it was made for.
    struct DeadlineProposal {
        address proposer;
        uint40 newDeliverBy;
        /// @dev `deliveryCount` when proposed: a proposal does not outlive the work it was made for.
        uint16 forDelivery;
    }

    /// @dev How long the freelancer has to answer a revision or refund request.
    uint64 public immutable responseWindow;
    /// @dev How long the client has to review a delivery before anyone may finalize it.
    uint64 public immutable reviewPeriod;
    /// @dev How long past `deliverBy` an order becomes seriously overdue.
    uint64 public immutable seriousDelay;

    /// @dev Receives platform fees (credited to its balance like any payout).
    address public feeRecipient;

    // slither-disable-next-line uninitialized-state (written through `Order storage` pointers in _open and the workers)
    mapping(bytes32 ref => Order) private _orders;
    mapping(bytes32 ref => DeadlineProposal) private _proposals;
    mapping(address token => bool) public allowedTokens;
    mapping(address token => mapping(address account => uint256)) private _credits;
    // slither-disable-next-line uninitialized-state (written through a `Reputation storage` pointer in _review)
    mapping(address account => Reputation) private _reputation;
    mapping(address account => uint256) private _nonces;

    // ==== MODIFIERS ====

    modifier onlyArbiter() {
        _checkRole(ARBITER_ROLE);
        _;
    }

    // ==== CONSTRUCTOR ====

    /**
     * @param admin The platform multisig: manages roles, the fee recipient, the token allowlist and the pause.
     * @param feeRecipient_ Receives platform fees.
     * @param responseWindow_ E.g. 24 hours.
     * @param reviewPeriod_ E.g. 3 days.
     * @param seriousDelay_ E.g. 48 hours.
     */
    constructor(
        address admin,
        address feeRecipient_,
        uint64 responseWindow_,
        uint64 reviewPeriod_,
        uint64 seriousDelay_
    ) EIP712("OrderEscrow", "1") {
        if (feeRecipient_ == address(0)) revert ZeroFeeRecipient();
        _checkTiming("responseWindow", responseWindow_);
        _checkTiming("reviewPeriod", reviewPeriod_);
        _checkTiming("seriousDelay", seriousDelay_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        feeRecipient = feeRecipient_;
        responseWindow = responseWindow_;
        reviewPeriod = reviewPeriod_;
        seriousDelay = seriousDelay_;
    }

    // ==== FUND ====

    /// @inheritdoc IOrderEscrow
    function fund(OrderTerms calldata terms, bytes calldata quoteSig) external payable nonReentrant whenNotPaused {
        if (msg.sender != terms.client) revert UnauthorizedCaller(terms.orderRef, msg.sender);
        if (terms.token == address(0)) {
            if (msg.value != terms.amount) revert WrongNativeAmount(terms.amount, msg.value);
        } else if (msg.value != 0) {
            revert WrongNativeAmount(0, msg.value);
        }
        _open(terms, quoteSig);
        if (terms.token != address(0)) _pull(terms);
    }

    /// @inheritdoc IOrderEscrow
    function fundWithSig(OrderTerms calldata terms, bytes calldata quoteSig, bytes calldata clientSig)
        external
        nonReentrant
        whenNotPaused
    {
        if (terms.token == address(0)) revert InvalidTerms(terms.orderRef, "token");
        // The consent is bound to a single-use orderRef and expires with the quote, so it carries no nonce.
        bytes32 consent = _hashPartyAction(
            terms.client, Action.Fund, terms.orderRef, keccak256(abi.encode(hashOrderTerms(terms))), 0, terms.quoteExpiry
        );
        if (!SignatureChecker.isValidSignatureNowCalldata(terms.client, consent, clientSig)) {
            revert InvalidSignature(terms.client);
        }
        _open(terms, quoteSig);
        _pull(terms);
    }

    // ==== REQUIREMENTS ====

    /// @inheritdoc IOrderEscrow
    function cancel(bytes32 ref) external nonReentrant {
        _cancel(ref, msg.sender);
    }

    /// @inheritdoc IOrderEscrow
    function submitRequirements(bytes32 ref, bytes32 requirementsHash) external nonReentrant {
        _submitRequirements(ref, msg.sender, requirementsHash);
    }

    // ==== DELIVERY ====

    /// @inheritdoc IOrderEscrow
    function deliver(bytes32 ref, bytes32 deliverableHash) external nonReentrant {
        _deliver(ref, msg.sender, deliverableHash);
    }

    /// @inheritdoc IOrderEscrow
    function proposeDeadline(bytes32 ref, uint64 newDeliverBy) external nonReentrant {
        _proposeDeadline(ref, msg.sender, newDeliverBy);
    }

    /// @inheritdoc IOrderEscrow
    function agreeDeadline(bytes32 ref, uint64 newDeliverBy) external nonReentrant {
        _agreeDeadline(ref, msg.sender, newDeliverBy);
    }

    // ==== REVIEW OF A DELIVERY ====

    /// @inheritdoc IOrderEscrow
    function accept(bytes32 ref) external nonReentrant {
        _accept(ref, msg.sender);
    }

    // ==== REVISION ====

    /// @inheritdoc IOrderEscrow
    function requestRevision(bytes32 ref, bytes32 reasonHash) external nonReentrant {
        _requestRevision(ref, msg.sender, reasonHash);
    }

    /// @inheritdoc IOrderEscrow
    function acknowledgeRevision(bytes32 ref) external nonReentrant {
        _acknowledgeRevision(ref, msg.sender);
    }

    // ==== REFUND ====

    /// @inheritdoc IOrderEscrow
    function requestRefund(bytes32 ref, bytes32 reasonHash) external nonReentrant {
        _requestRefund(ref, msg.sender, reasonHash);
    }

    /// @inheritdoc IOrderEscrow
    function acceptRefund(bytes32 ref) external nonReentrant {
        _acceptRefund(ref, msg.sender);
    }

    /// @inheritdoc IOrderEscrow
    function refuseRefund(bytes32 ref) external nonReentrant {
        _refuseRefund(ref, msg.sender);
    }

    /// @inheritdoc IOrderEscrow
    function claimRefund(bytes32 ref) external nonReentrant {
        _claimRefund(ref, msg.sender);
    }

    /// @inheritdoc IOrderEscrow
    function refundOverdue(bytes32 ref) external nonReentrant {
        _refundOverdue(ref, msg.sender);
    }

    // ==== DISPUTE ====

    /// @inheritdoc IOrderEscrow
    function openDispute(bytes32 ref, bytes32 reasonHash) external nonReentrant {
        _openDispute(ref, msg.sender, reasonHash);
    }

    /// @inheritdoc IOrderEscrow
    function resolveDispute(bytes32 ref, uint16 freelancerBps) external nonReentrant {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.Disputed);
        if (!hasRole(ARBITER_ROLE, msg.sender)) revert UnauthorizedCaller(ref, msg.sender);
        _resolve(ref, o, freelancerBps, false);
    }

    /// @inheritdoc IOrderEscrow
    function settle(bytes32 ref, uint16 freelancerBps, bytes calldata clientSig, bytes calldata freelancerSig)
        external
        nonReentrant
    {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.Disputed);
        bytes32 digest = hashSettlement(ref, freelancerBps);
        if (!SignatureChecker.isValidSignatureNowCalldata(o.client, digest, clientSig)) revert InvalidSignature(o.client);
        if (!SignatureChecker.isValidSignatureNowCalldata(o.freelancer, digest, freelancerSig)) {
            revert InvalidSignature(o.freelancer);
        }
        _resolve(ref, o, freelancerBps, true);
    }

    // ==== TIMEOUTS ====

    /// @inheritdoc IOrderEscrow
    function finalize(bytes32 ref) external nonReentrant {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.Delivered);
        _requireAfter(ref, o.deadline);
        _complete(ref, o, msg.sender, true);
    }

    /// @inheritdoc IOrderEscrow
    function startRevision(bytes32 ref) external nonReentrant {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.RevisionRequested);
        _requireAfter(ref, o.deadline);
        _beginRevision(ref, o, false);
    }

    // ==== REVIEWS ====

    /// @inheritdoc IOrderEscrow
    function review(bytes32 ref, uint8 rating, bytes32 commentHash) external nonReentrant {
        _review(ref, msg.sender, rating, commentHash);
    }

    /// @inheritdoc IOrderEscrow
    function replyToReview(bytes32 ref, bytes32 replyHash) external nonReentrant {
        _replyToReview(ref, msg.sender, replyHash);
    }

    // ==== WITHDRAW ====

    /// @inheritdoc IOrderEscrow
    function withdraw(address token) external nonReentrant {
        // Check
        uint256 amount = _credits[token][msg.sender];
        if (amount == 0) revert NothingToWithdraw(token, msg.sender);
        // Update
        _credits[token][msg.sender] = 0;
        emit Withdrawn(token, msg.sender, amount);
        // Transfer
        if (token == address(0)) {
            Address.sendValue(payable(msg.sender), amount);
        } else {
            IERC20(token).safeTransfer(msg.sender, amount);
        }
    }

    // ==== SIGNED ACTIONS ====

    /// @inheritdoc IOrderEscrow
    function executeWithSig(PartyAction calldata action, bytes calldata signature) external nonReentrant {
        // Check
        address party = action.party;
        if (block.timestamp > action.deadline) revert SignatureExpired(block.timestamp, action.deadline);
        uint256 nonce = _nonces[party];
        if (action.nonce != nonce) revert InvalidNonce(party, nonce, action.nonce);
        bytes32 digest = _hashPartyAction(
            party, action.action, action.orderRef, keccak256(action.args), action.nonce, action.deadline
        );
        if (!SignatureChecker.isValidSignatureNowCalldata(party, digest, signature)) revert InvalidSignature(party);
        // Update
        unchecked {
            _nonces[party] = nonce + 1;
        }
        emit SignedActionExecuted(party, action.action, action.orderRef, nonce);
        _dispatch(party, action.action, action.orderRef, action.args);
    }

    // ==== ADMIN ====

    /// @dev Change the fee recipient; fees already credited stay with the previous one.
    function setFeeRecipient(address feeRecipient_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (feeRecipient_ == address(0)) revert ZeroFeeRecipient();
        emit FeeRecipientChanged(feeRecipient, feeRecipient_);
        feeRecipient = feeRecipient_;
    }

    /// @dev Allow or disallow a BEP-20 for new orders; live orders in it are not affected.
    function setTokenAllowed(address token, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert TokenNotAllowed(token);
        allowedTokens[token] = allowed;
        emit TokenAllowed(token, allowed);
    }

    /// @dev Stop new orders (`fund`, `fundWithSig`). Every other call, exits included, keeps working.
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @dev Accept new orders again.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    // ==== VIEWS ====

    /// @inheritdoc IOrderEscrow
    function getOrder(bytes32 ref) external view returns (OrderView memory v) {
        Order storage o = _orders[ref];
        v.terms = OrderTerms({
            orderRef: ref,
            client: o.client,
            freelancer: o.freelancer,
            token: o.token,
            amount: o.amount,
            feeBps: o.feeBps,
            deliveryDuration: o.deliveryDuration,
            maxRevisions: o.maxRevisions,
            quoteExpiry: 0
        });
        Status status = o.status;
        v.status = status;
        v.deliverBy = o.deliverBy;
        if (status == Status.Delivered) v.reviewBy = o.deadline;
        if (status == Status.RevisionRequested || status == Status.RefundRequested) v.respondBy = o.deadline;
        v.revisionsUsed = o.revisionsUsed;
        v.refundRefusals = o.refundRefusals;
        v.deliveryCount = o.deliveryCount;
        v.lastLateness = o.lastLateness;
        uint8 reviews = o.reviews;
        v.clientRating = reviews & 7;
        v.freelancerRating = (reviews >> 3) & 7;
        v.clientReplied = reviews & 64 != 0;
        v.freelancerReplied = reviews & 128 != 0;
        DeadlineProposal storage p = _proposals[ref];
        if (p.proposer != address(0) && p.forDelivery == o.deliveryCount && _isWorking(status)) {
            v.deadlineProposer = p.proposer;
            v.proposedDeliverBy = p.newDeliverBy;
        }
    }

    /// @inheritdoc IOrderEscrow
    function availableActions(bytes32 ref, address account) external view returns (uint256 mask) {
        Order storage o = _orders[ref];
        Status status = o.status;
        bool isClient = account == o.client;
        bool isFreelancer = account == o.freelancer;
        uint256 now_ = block.timestamp;
        if (status == Status.AwaitingRequirements) {
            if (isClient || isFreelancer) mask |= _bit(Action.Cancel);
            if (isClient) mask |= _bit(Action.SubmitRequirements);
        } else if (_isWorking(status)) {
            if (isFreelancer) mask |= _bit(Action.Deliver);
            if (isClient && now_ > uint256(o.deliverBy) + seriousDelay) mask |= _bit(Action.RefundOverdue);
            if (isClient || isFreelancer) {
                mask |= _bit(Action.ProposeDeadline) | _bit(Action.OpenDispute);
                DeadlineProposal storage p = _proposals[ref];
                if (
                    p.proposer != address(0) && p.proposer != account && p.forDelivery == o.deliveryCount
                        && p.newDeliverBy > now_
                ) mask |= _bit(Action.AgreeDeadline);
            }
        } else if (status == Status.Delivered) {
            if (isClient) {
                mask |= _bit(Action.Accept) | _bit(Action.RequestRefund);
                if (o.revisionsUsed < o.maxRevisions) mask |= _bit(Action.RequestRevision);
                if (o.lastLateness == Lateness.SeriouslyOverdue) mask |= _bit(Action.RefundOverdue);
            }
            if (isClient || isFreelancer) mask |= _bit(Action.OpenDispute);
            if (now_ > o.deadline) mask |= _bit(Action.Finalize);
        } else if (status == Status.RevisionRequested) {
            if (isFreelancer && now_ <= o.deadline) mask |= _bit(Action.AcknowledgeRevision);
            if (now_ > o.deadline) mask |= _bit(Action.StartRevision);
            if (isClient || isFreelancer) mask |= _bit(Action.OpenDispute);
        } else if (status == Status.RefundRequested) {
            if (isFreelancer) {
                mask |= _bit(Action.AcceptRefund);
                if (now_ <= o.deadline) mask |= _bit(Action.RefuseRefund);
            }
            if (isClient && now_ > o.deadline) mask |= _bit(Action.ClaimRefund);
            if (isClient || isFreelancer) mask |= _bit(Action.OpenDispute);
        } else if (status == Status.Disputed) {
            if (hasRole(ARBITER_ROLE, account)) mask |= _bit(Action.ResolveDispute);
            if (isClient || isFreelancer) mask |= _bit(Action.Settle);
        } else if (status == Status.Completed || status == Status.Resolved) {
            uint8 reviews = o.reviews;
            if (isClient) {
                if (reviews & 7 == 0) mask |= _bit(Action.Review);
                uint8 received = (reviews >> 3) & 7;
                if (received != 0 && received < 4 && reviews & 64 == 0) mask |= _bit(Action.ReplyToReview);
            }
            if (isFreelancer) {
                if ((reviews >> 3) & 7 == 0) mask |= _bit(Action.Review);
                uint8 received = reviews & 7;
                if (received != 0 && received < 4 && reviews & 128 == 0) mask |= _bit(Action.ReplyToReview);
            }
        }
    }

    /// @inheritdoc IOrderEscrow
    function withdrawable(address token, address account) external view returns (uint256) {
        return _credits[token][account];
    }

    /// @inheritdoc IOrderEscrow
    function reputationOf(address account) external view returns (Reputation memory) {
        return _reputation[account];
    }

    /// @inheritdoc IOrderEscrow
    function nonces(address account) external view returns (uint256) {
        return _nonces[account];
    }

    /// @inheritdoc IOrderEscrow
    function hashOrderTerms(OrderTerms calldata terms) public pure returns (bytes32) {
        return keccak256(abi.encode(ORDER_TERMS_TYPEHASH, terms));
    }

    /// @inheritdoc IOrderEscrow
    function hashPartyAction(PartyAction calldata action) external view returns (bytes32) {
        return _hashPartyAction(
            action.party, action.action, action.orderRef, keccak256(action.args), action.nonce, action.deadline
        );
    }

    /// @inheritdoc IOrderEscrow
    function hashSettlement(bytes32 ref, uint16 freelancerBps) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(SETTLEMENT_TYPEHASH, ref, freelancerBps)));
    }

    /// @dev The EIP-712 domain separator (name "OrderEscrow", version "1", this chain, this contract).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ==== INTERNAL: PARTY ACTIONS (caller already authenticated: msg.sender or a signer) ====

    function _cancel(bytes32 ref, address caller) private {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.AwaitingRequirements);
        address client = o.client;
        if (caller != client && caller != o.freelancer) revert UnauthorizedCaller(ref, caller);
        o.status = Status.Cancelled;
        uint256 amount = o.amount;
        emit OrderCancelled(ref, caller, amount);
        _credit(o.token, client, amount);
    }

    function _submitRequirements(bytes32 ref, address caller, bytes32 requirementsHash) private {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.AwaitingRequirements);
        if (caller != o.client) revert UnauthorizedCaller(ref, caller);
        uint40 deliverBy = uint40(block.timestamp + o.deliveryDuration);
        o.status = Status.InProgress;
        o.deliverBy = deliverBy;
        emit RequirementsSubmitted(ref, requirementsHash, deliverBy);
    }

    function _deliver(bytes32 ref, address caller, bytes32 deliverableHash) private {
        Order storage o = _orders[ref];
        Status status = o.status;
        if (!_isWorking(status)) revert WrongStatus(ref, status);
        if (caller != o.freelancer) revert UnauthorizedCaller(ref, caller);
        Lateness lateness = OrderMath.lateness(block.timestamp, o.deliverBy, seriousDelay);
        uint40 reviewBy = uint40(block.timestamp + reviewPeriod);
        uint16 index = o.deliveryCount;
        o.status = Status.Delivered;
        o.deliveryCount = index + 1;
        o.deadline = reviewBy;
        o.lastLateness = lateness;
        emit Delivered(ref, index, deliverableHash, lateness, reviewBy);
    }

    function _refundOverdue(bytes32 ref, address caller) private {
        Order storage o = _orders[ref];
        Status status = o.status;
        if (_isWorking(status)) {
            if (caller != o.client) revert UnauthorizedCaller(ref, caller);
            _requireAfter(ref, uint256(o.deliverBy) + seriousDelay);
        } else if (status == Status.Delivered) {
            if (caller != o.client) revert UnauthorizedCaller(ref, caller);
            Lateness lateness = o.lastLateness;
            if (lateness != Lateness.SeriouslyOverdue) revert NotSeriouslyOverdue(ref, lateness);
        } else {
            revert WrongStatus(ref, status);
        }
        _refund(ref, o, RefundReason.SeriouslyOverdue);
    }

    function _accept(bytes32 ref, address caller) private {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.Delivered);
        if (caller != o.client) revert UnauthorizedCaller(ref, caller);
        _complete(ref, o, caller, false);
    }

    function _requestRevision(bytes32 ref, address caller, bytes32 reasonHash) private {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.Delivered);
        if (caller != o.client) revert UnauthorizedCaller(ref, caller);
        uint8 used = o.revisionsUsed;
        if (used >= o.maxRevisions) revert RevisionLimitReached(ref, o.maxRevisions);
        uint40 respondBy = uint40(block.timestamp + responseWindow);
        o.status = Status.RevisionRequested;
        o.revisionsUsed = used + 1;
        o.deadline = respondBy;
        emit RevisionRequested(ref, reasonHash, used + 1, respondBy);
    }

    function _acknowledgeRevision(bytes32 ref, address caller) private {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.RevisionRequested);
        if (caller != o.freelancer) revert UnauthorizedCaller(ref, caller);
        _requireNotAfter(ref, o.deadline);
        _beginRevision(ref, o, true);
    }

    function _proposeDeadline(bytes32 ref, address caller, uint64 newDeliverBy) private {
        Order storage o = _orders[ref];
        Status status = o.status;
        if (!_isWorking(status)) revert WrongStatus(ref, status);
        if (caller != o.client && caller != o.freelancer) revert UnauthorizedCaller(ref, caller);
        _requireFuture(ref, newDeliverBy);
        _proposals[ref] = DeadlineProposal(caller, uint40(newDeliverBy), o.deliveryCount);
        emit DeadlineProposed(ref, caller, newDeliverBy);
    }

    function _agreeDeadline(bytes32 ref, address caller, uint64 newDeliverBy) private {
        Order storage o = _orders[ref];
        Status status = o.status;
        if (!_isWorking(status)) revert WrongStatus(ref, status);
        if (caller != o.client && caller != o.freelancer) revert UnauthorizedCaller(ref, caller);
        DeadlineProposal memory p = _proposals[ref];
        bool pending = p.proposer != address(0) && p.forDelivery == o.deliveryCount;
        if (!pending || p.proposer == caller || p.newDeliverBy != newDeliverBy) {
            revert DeadlineMismatch(ref, pending && p.proposer != caller ? p.newDeliverBy : 0, newDeliverBy);
        }
        _requireFuture(ref, newDeliverBy);
        delete _proposals[ref];
        o.deliverBy = uint40(newDeliverBy);
        emit DeadlineAgreed(ref, newDeliverBy);
    }

    function _requestRefund(bytes32 ref, address caller, bytes32 reasonHash) private {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.Delivered);
        if (caller != o.client) revert UnauthorizedCaller(ref, caller);
        uint40 respondBy = uint40(block.timestamp + responseWindow);
        o.status = Status.RefundRequested;
        o.deadline = respondBy;
        emit RefundRequested(ref, reasonHash, respondBy);
    }

    function _acceptRefund(bytes32 ref, address caller) private {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.RefundRequested);
        if (caller != o.freelancer) revert UnauthorizedCaller(ref, caller);
        _refund(ref, o, RefundReason.AcceptedByFreelancer);
    }

    function _refuseRefund(bytes32 ref, address caller) private {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.RefundRequested);
        if (caller != o.freelancer) revert UnauthorizedCaller(ref, caller);
        _requireNotAfter(ref, o.deadline);
        uint8 refusals = o.refundRefusals + 1;
        o.refundRefusals = refusals;
        // "If you refuse the refund more than twice, the order enters the dispute status."
        if (refusals > 2) {
            o.status = Status.Disputed;
            emit RefundRefused(ref, refusals, 0);
            emit DisputeOpened(ref, caller, bytes32(0));
        } else {
            uint40 reviewBy = uint40(block.timestamp + reviewPeriod);
            o.status = Status.Delivered;
            o.deadline = reviewBy;
            emit RefundRefused(ref, refusals, reviewBy);
        }
    }

    function _claimRefund(bytes32 ref, address caller) private {
        Order storage o = _orders[ref];
        _requireStatus(ref, o.status, Status.RefundRequested);
        if (caller != o.client) revert UnauthorizedCaller(ref, caller);
        _requireAfter(ref, o.deadline);
        _refund(ref, o, RefundReason.FreelancerSilent);
    }

    function _openDispute(bytes32 ref, address caller, bytes32 reasonHash) private {
        Order storage o = _orders[ref];
        Status status = o.status;
        if (status < Status.InProgress || status > Status.RefundRequested) revert WrongStatus(ref, status);
        if (caller != o.client && caller != o.freelancer) revert UnauthorizedCaller(ref, caller);
        o.status = Status.Disputed;
        emit DisputeOpened(ref, caller, reasonHash);
    }

    function _review(bytes32 ref, address caller, uint8 rating, bytes32 commentHash) private {
        Order storage o = _orders[ref];
        Status status = o.status;
        if (status != Status.Completed && status != Status.Resolved) revert WrongStatus(ref, status);
        address client = o.client;
        address freelancer = o.freelancer;
        if (caller != client && caller != freelancer) revert UnauthorizedCaller(ref, caller);
        if (rating == 0 || rating > 5) revert InvalidRating(rating);
        uint8 reviews = o.reviews;
        uint8 shift = caller == client ? 0 : 3;
        if ((reviews >> shift) & 7 != 0) revert AlreadyReviewed(ref, caller);
        address reviewee = caller == client ? freelancer : client;
        o.reviews = reviews | (rating << shift);
        Reputation storage r = _reputation[reviewee];
        r.ratingSum += rating;
        r.ratingCount += 1;
        emit Reviewed(ref, caller, reviewee, rating, commentHash);
    }

    function _replyToReview(bytes32 ref, address caller, bytes32 replyHash) private {
        Order storage o = _orders[ref];
        Status status = o.status;
        if (status != Status.Completed && status != Status.Resolved) revert WrongStatus(ref, status);
        bool isClient = caller == o.client;
        if (!isClient && caller != o.freelancer) revert UnauthorizedCaller(ref, caller);
        uint8 reviews = o.reviews;
        // The client replies to the freelancer's rating (bits 3-5) and vice versa.
        uint8 received = isClient ? (reviews >> 3) & 7 : reviews & 7;
        uint8 repliedBit = isClient ? 64 : 128;
        if (received == 0 || received >= 4 || reviews & repliedBit != 0) revert ReplyNotAllowed(ref, caller, received);
        o.reviews = reviews | repliedBit;
        emit ReviewReplied(ref, caller, replyHash);
    }

    function _dispatch(address party, Action action, bytes32 ref, bytes calldata args) private {
        if (action == Action.Cancel) _cancel(ref, _noArgs(party, action, args));
        else if (action == Action.SubmitRequirements) _submitRequirements(ref, party, _argHash(action, args));
        else if (action == Action.Deliver) _deliver(ref, party, _argHash(action, args));
        else if (action == Action.RefundOverdue) _refundOverdue(ref, _noArgs(party, action, args));
        else if (action == Action.Accept) _accept(ref, _noArgs(party, action, args));
        else if (action == Action.RequestRevision) _requestRevision(ref, party, _argHash(action, args));
        else if (action == Action.AcknowledgeRevision) _acknowledgeRevision(ref, _noArgs(party, action, args));
        else if (action == Action.ProposeDeadline) _proposeDeadline(ref, party, _argDate(action, args));
        else if (action == Action.AgreeDeadline) _agreeDeadline(ref, party, _argDate(action, args));
        else if (action == Action.RequestRefund) _requestRefund(ref, party, _argHash(action, args));
        else if (action == Action.AcceptRefund) _acceptRefund(ref, _noArgs(party, action, args));
        else if (action == Action.RefuseRefund) _refuseRefund(ref, _noArgs(party, action, args));
        else if (action == Action.ClaimRefund) _claimRefund(ref, _noArgs(party, action, args));
        else if (action == Action.OpenDispute) _openDispute(ref, party, _argHash(action, args));
        else if (action == Action.Review) {
            if (args.length != 64) revert InvalidActionArgs(action, args.length);
            (uint256 rating, bytes32 commentHash) = abi.decode(args, (uint256, bytes32));
            if (rating == 0 || rating > 5) revert InvalidRating(uint8(rating > 255 ? 255 : rating));
            _review(ref, party, uint8(rating), commentHash);
        } else if (action == Action.ReplyToReview) {
            _replyToReview(ref, party, _argHash(action, args));
        } else {
            // Fund has fundWithSig; Finalize and StartRevision need no signature; the arbiter and settlement sign elsewhere.
            revert ActionNotSignable(action);
        }
    }

    // ==== INTERNAL: MONEY ====

    /// @dev Check the terms and the quote, and record the order (the caller moves the money).
    function _open(OrderTerms calldata terms, bytes calldata quoteSig) private {
        bytes32 ref = terms.orderRef;
        if (_orders[ref].status != Status.None) revert OrderExists(ref);
        _validateTerms(terms);
        // The third value only details a malformed signature; any error is reported as InvalidQuoteSignature.
        // slither-disable-next-line unused-return
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(_hashTypedDataV4(hashOrderTerms(terms)), quoteSig);
        if (err != ECDSA.RecoverError.NoError || !hasRole(QUOTE_SIGNER_ROLE, signer)) {
            revert InvalidQuoteSignature(ref, signer);
        }
        Order storage o = _orders[ref];
        o.client = terms.client;
        o.status = Status.AwaitingRequirements;
        o.feeBps = terms.feeBps;
        o.maxRevisions = terms.maxRevisions;
        o.deliveryDuration = terms.deliveryDuration;
        o.freelancer = terms.freelancer;
        o.token = terms.token;
        o.amount = uint96(terms.amount);
        emit OrderFunded(ref, terms.client, terms.freelancer, terms.token, terms.amount);
    }

    /// @dev Validation of terms in one place. (The client needs no check: it is the caller of {fund}, or the
    /// signer of {fundWithSig}'s consent, so it is never the zero address.)
    function _validateTerms(OrderTerms calldata terms) private view {
        bytes32 ref = terms.orderRef;
        if (ref == bytes32(0)) revert InvalidTerms(ref, "orderRef");
        if (terms.freelancer == address(0) || terms.freelancer == terms.client) revert InvalidTerms(ref, "freelancer");
        if (terms.amount == 0 || terms.amount > type(uint96).max) revert InvalidTerms(ref, "amount");
        if (terms.deliveryDuration == 0) revert InvalidTerms(ref, "deliveryDuration");
        if (terms.feeBps > MAX_FEE_BPS) revert FeeTooHigh(terms.feeBps, MAX_FEE_BPS);
        if (terms.token != address(0) && !allowedTokens[terms.token]) revert TokenNotAllowed(terms.token);
        if (block.timestamp > terms.quoteExpiry) revert QuoteExpired(ref, uint64(block.timestamp), terms.quoteExpiry);
    }

    /// @dev Pull a BEP-20 order's amount from the client; the escrow must receive exactly the amount.
    function _pull(OrderTerms calldata terms) private {
        IERC20 token = IERC20(terms.token);
        uint256 before = token.balanceOf(address(this));
        // `from` is never arbitrary: fund requires msg.sender == client; fundWithSig verified the client's signed consent.
        // slither-disable-next-line arbitrary-send-erc20
        token.safeTransferFrom(terms.client, address(this), terms.amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != terms.amount) revert TransferAmountMismatch(terms.token, terms.amount, received);
    }

    function _complete(bytes32 ref, Order storage o, address by, bool finalized) private {
        uint256 amount = o.amount;
        (uint256 freelancerAmount, uint256 fee) = OrderMath.completion(amount, o.feeBps);
        o.status = Status.Completed;
        emit OrderCompleted(ref, by, finalized, freelancerAmount, fee);
        address token = o.token;
        _credit(token, o.freelancer, freelancerAmount);
        if (fee != 0) _credit(token, feeRecipient, fee);
    }

    function _refund(bytes32 ref, Order storage o, RefundReason reason) private {
        uint256 amount = o.amount;
        o.status = Status.Refunded;
        emit OrderRefunded(ref, reason, amount);
        _credit(o.token, o.client, amount);
    }

    function _resolve(bytes32 ref, Order storage o, uint16 freelancerBps, bool settled) private {
        if (freelancerBps > OrderMath.BPS) revert InvalidSplit(freelancerBps);
        (uint256 clientAmount, uint256 freelancerAmount, uint256 fee) =
            OrderMath.split(o.amount, freelancerBps, o.feeBps);
        o.status = Status.Resolved;
        emit DisputeResolved(ref, settled, freelancerBps, clientAmount, freelancerAmount, fee);
        address token = o.token;
        if (clientAmount != 0) _credit(token, o.client, clientAmount);
        if (freelancerAmount != 0) _credit(token, o.freelancer, freelancerAmount);
        if (fee != 0) _credit(token, feeRecipient, fee);
    }

    function _credit(address token, address account, uint256 amount) private {
        _credits[token][account] += amount;
    }

    // ==== INTERNAL: HELPERS ====

    function _beginRevision(bytes32 ref, Order storage o, bool acknowledged) private {
        uint40 deliverBy = uint40(block.timestamp + o.deliveryDuration);
        o.status = Status.InRevision;
        o.deliverBy = deliverBy;
        emit RevisionStarted(ref, acknowledged, deliverBy);
    }

    function _requireStatus(bytes32 ref, Status current, Status expected) private pure {
        if (current != expected) revert WrongStatus(ref, current);
    }

    /// @dev Possible only strictly after `deadline`.
    function _requireAfter(bytes32 ref, uint256 deadline) private view {
        if (block.timestamp <= deadline) revert TooEarly(ref, uint64(block.timestamp), uint64(deadline + 1));
    }

    /// @dev Possible only until `deadline`, inclusive.
    function _requireNotAfter(bytes32 ref, uint256 deadline) private view {
        if (block.timestamp > deadline) revert TooLate(ref, uint64(block.timestamp), uint64(deadline));
    }

    function _requireFuture(bytes32 ref, uint64 date) private view {
        if (date <= block.timestamp || date > type(uint40).max) {
            revert DeadlineNotInFuture(ref, uint64(block.timestamp), date);
        }
    }

    function _isWorking(Status status) private pure returns (bool) {
        return status == Status.InProgress || status == Status.InRevision;
    }

    function _bit(Action action) private pure returns (uint256) {
        return 1 << uint8(action);
    }

    function _argHash(Action action, bytes calldata args) private pure returns (bytes32) {
        if (args.length != 32) revert InvalidActionArgs(action, args.length);
        return bytes32(args);
    }

    function _argDate(Action action, bytes calldata args) private pure returns (uint64) {
        if (args.length != 32) revert InvalidActionArgs(action, args.length);
        uint256 date = uint256(bytes32(args));
        if (date > type(uint64).max) revert InvalidActionArgs(action, args.length);
        return uint64(date);
    }

    function _noArgs(address party, Action action, bytes calldata args) private pure returns (address) {
        if (args.length != 0) revert InvalidActionArgs(action, args.length);
        return party;
    }

    function _hashPartyAction(
        address party,
        Action action,
        bytes32 ref,
        bytes32 argsHash,
        uint256 nonce,
        uint256 deadline
    ) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(PARTY_ACTION_TYPEHASH, party, action, ref, argsHash, nonce, deadline))
        );
    }

    function _checkTiming(string memory name, uint64 value) private pure {
        if (value == 0 || value > 365 days) revert InvalidTiming(name, value);
    }
}

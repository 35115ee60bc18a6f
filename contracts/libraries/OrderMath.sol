// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IOrderEscrow} from "../interfaces/IOrderEscrow.sol";

/**
 * @dev The money and deadline arithmetic of the escrow, kept apart so it is easy to read and to fuzz.
 *
 * Rounding rule: every division rounds down, and the last party takes the remainder, so the parts of
 * an amount always add up to the amount exactly (no wei is lost or created):
 * - completion: `fee = amount * feeBps / 10_000`, the freelancer gets `amount - fee`;
 * - split: `share = amount * freelancerBps / 10_000`, `fee = share * feeBps / 10_000`,
 *   the freelancer gets `share - fee`, the client gets `amount - share`.
 */
library OrderMath {
    uint256 internal constant BPS = 10_000;

    /// @dev The fee and the freelancer's payout when an order completes.
    function completion(uint256 amount, uint16 feeBps) internal pure returns (uint256 freelancerAmount, uint256 fee) {
        fee = (amount * feeBps) / BPS;
        freelancerAmount = amount - fee;
    }

    /// @dev A dispute split: the freelancer's share of `amount` minus the fee on that share; the rest to the client.
    function split(uint256 amount, uint16 freelancerBps, uint16 feeBps)
        internal
        pure
        returns (uint256 clientAmount, uint256 freelancerAmount, uint256 fee)
    {
        uint256 share = (amount * freelancerBps) / BPS;
        // The fee is due on the freelancer's share only, so it is computed from the rounded share on purpose.
        // slither-disable-next-line divide-before-multiply
        fee = (share * feeBps) / BPS;
        freelancerAmount = share - fee;
        clientAmount = amount - share;
    }

    /// @dev How late a delivery at `now_` is against `deliverBy`.
    function lateness(uint256 now_, uint256 deliverBy, uint256 seriousDelay) internal pure returns (IOrderEscrow.Lateness) {
        if (now_ <= deliverBy) return IOrderEscrow.Lateness.OnTime;
        if (now_ <= deliverBy + seriousDelay) return IOrderEscrow.Lateness.Overdue;
        return IOrderEscrow.Lateness.SeriouslyOverdue;
    }
}

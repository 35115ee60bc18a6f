// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IOrderEscrow} from "../interfaces/IOrderEscrow.sol";

/**
 * @dev A contract party that misbehaves when paid: in mode Revert it refuses BNB; in mode Reenter it calls
 * back into the escrow (withdraw again, or any call set with `setReentry`) from its receive hook.
 */
contract HostileReceiver {
    enum Mode {
        Accept,
        Revert,
        Reenter
    }

    IOrderEscrow public immutable escrow;
    Mode public mode;
    bytes public reentry;
    bool public reentrySucceeded;
    bytes public reentryError;
    uint256 public received;

    constructor(IOrderEscrow escrow_) {
        escrow = escrow_;
    }

    function setMode(Mode mode_) external {
        mode = mode_;
    }

    function setReentry(bytes calldata data) external {
        reentry = data;
    }

    /// @dev Make any call as this contract (fund, accept, cancel, ...).
    function call(bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = address(escrow).call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        if (mode == Mode.Revert) revert("HostileReceiver: no thanks");
        if (mode == Mode.Reenter) {
            (bool ok, bytes memory ret) = address(escrow).call(reentry);
            reentrySucceeded = ok;
            reentryError = ret;
        }
        received += msg.value;
    }
}

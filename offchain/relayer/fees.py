"""Gas prices: legacy (BSC) or EIP-1559 (where the latest block has a base fee), and replacement bumps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offchain.relayer.chain import Chain
from offchain.relayer.settings import Settings

#: nodes refuse a replacement unless every price rises by at least 10%
MIN_BUMP_PERCENT = 10


@dataclass(frozen=True)
class Fees:
    """``gas_price`` is the legacy price, or ``maxFeePerGas`` when ``priority_fee`` is set (EIP-1559)."""

    gas_price: int
    priority_fee: int | None = None

    def bumped(self, percent: int, cap: int) -> Fees:
        percent = max(percent, MIN_BUMP_PERCENT + 1)

        def up(value: int) -> int:
            return min(value * (100 + percent) // 100 + 1, cap)

        return Fees(up(self.gas_price), None if self.priority_fee is None else up(self.priority_fee))

    def at_least(self, other: Fees) -> Fees:
        tip = None if self.priority_fee is None else max(self.priority_fee, other.priority_fee or 0)
        return Fees(max(self.gas_price, other.gas_price), tip)

    def fields(self) -> dict[str, Any]:
        if self.priority_fee is None:
            return {"gasPrice": self.gas_price}
        return {"maxFeePerGas": self.gas_price, "maxPriorityFeePerGas": min(self.priority_fee, self.gas_price)}


def current_fees(chain: Chain, settings: Settings) -> Fees:
    """The price a new transaction starts at."""
    mode = settings.fee_mode
    base_fee: int | None = None
    if mode in ("auto", "eip1559"):
        base = chain.latest_block().get("baseFeePerGas")
        base_fee = int(base, 16) if isinstance(base, str) else base
    if mode == "legacy" or not base_fee:  # BSC reports a zero base fee: legacy pricing there
        price = settings.gas_price_wei or chain.gas_price()
        return Fees(min(price, settings.gas_price_max_wei))
    tip = chain.max_priority_fee()
    max_fee = settings.gas_price_wei or 2 * base_fee + tip
    return Fees(min(max_fee, settings.gas_price_max_wei), min(tip, max_fee))


def build_transaction(
    *, to: str, data: bytes, value: int, gas: int, nonce: int, chain_id: int, fees: Fees
) -> dict[str, Any]:
    return {"to": to, "data": data, "value": value, "gas": gas, "nonce": nonce, "chainId": chain_id, **fees.fields()}

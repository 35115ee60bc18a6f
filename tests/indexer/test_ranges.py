"""Block ranges sized for BSC RPC limits: a range the node refuses is split and retried; nothing is skipped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from offchain.relayer.chain import RpcChain, RpcErrorReply
from offchain.relayer.index.watcher import Watcher
from tests.indexer.kit import catch_up, index_snapshot, make_runtime
from tests.relayer.harness import Deployment


class LimitedNode(RpcChain):
    """The real node behind a BSC-like rule: eth_getLogs over more than ``limit`` blocks is refused."""

    def __init__(self, url: str, limit: int) -> None:
        super().__init__([url])
        self.limit = limit
        self.refused = 0
        self.widest = 0

    def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        if method == "eth_getLogs":
            span = int(params[0]["toBlock"], 16) - int(params[0]["fromBlock"], 16) + 1
            if span > self.limit:
                self.refused += 1
                raise RpcErrorReply(-32005, f"exceed maximum block range: {self.limit}")
            self.widest = max(self.widest, span)
        return super().request(method, params)


def test_a_refused_range_is_split_until_the_node_accepts_it_and_nothing_is_missed(
    deployment: Deployment, new_db: Callable[[str], str]
) -> None:
    d = deployment
    d.fund_orders([d.terms() for _ in range(3)])
    for t in [d.terms() for _ in range(4)]:
        d.fund_orders([t])
        d.chain.mine(5)  # empty blocks between events
    limited = make_runtime(d, new_db("sqlite"), index_max_range=1000)
    node = LimitedNode(d.chain.url, limit=7)
    limited.chain = node
    catch_up(Watcher(limited))
    reference = make_runtime(d, new_db("sqlite"), index_max_range=1000)
    catch_up(Watcher(reference))
    assert 0 < node.refused <= 8 and node.widest <= 7, "refusals are remembered, not retried every cycle"
    assert index_snapshot(limited) == index_snapshot(reference)
    assert index_snapshot(reference)["index_orders"], "there is something to compare"

"""The chain watcher: OrderEscrow logs → index rows and webhook events, from a persisted checkpoint.

Guarantees:

- **No gap, no duplicate.** A block range's events, their projection, their webhook events and the new checkpoint
  (last block processed and its hash) are written in one database transaction; a restart (even after SIGKILL)
  resumes right after the checkpoint.
- **Reorgs are rolled back.** Every cycle first checks that the checkpoint's hash is still the chain's. If not, it
  walks the stored block hashes (recent blocks and blocks with events) down to the common ancestor, deletes the
  orphaned events, replays the remaining events of the affected orders, produces one ``event.retracted`` webhook
  per orphaned event (newest first), and moves the checkpoint back; the next cycles index the new branch.
  Within ``index_reorg_window`` blocks of the head, each range is also checked for an unbroken parent-hash chain.
- **RPC limits.** Ranges are at most ``index_max_range`` blocks; a range the node refuses (too many results,
  range too large, timeout) is halved and retried, and grows back after successes.
- Only blocks ``index_confirmations`` deep are indexed.

Leaves to others: sending the webhooks (:mod:`.webhooks`), acting on deadlines (:mod:`.keeper`). A reorg deeper
than the stored hashes (``index_reorg_window``) raises :class:`ReorgTooDeep`: re-index from scratch then.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from prometheus_client import Counter, Gauge
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from offchain.relayer.chain import RpcErrorReply
from offchain.relayer.db import transaction
from offchain.relayer.exceptions import ChainError, RelayerError, RpcUnavailable
from offchain.relayer.index import projection
from offchain.relayer.index.models import (
    IndexBlock,
    IndexDelivery,
    IndexEvent,
    IndexOrder,
    IndexPayment,
    IndexReview,
    IndexState,
)
from offchain.relayer.index.projection import Event, LogDecoder, Projector, order_key, webhook_payload
from offchain.relayer.index.webhooks import Notice, notify, produce
from offchain.relayer.runtime import Runtime
from offchain.relayer.worker import Worker

log = logging.getLogger(__name__)

STATE_NAME = "escrow"
INDEXED_BLOCK = Gauge("taskescrow_index_block", "Last block whose events are all indexed")
INDEXED_EVENTS = Counter("taskescrow_index_events_total", "Escrow events indexed")
REORGS = Counter("taskescrow_index_reorgs_total", "Reorgs rolled back by the watcher")


class ReorgTooDeep(RelayerError):
    """No stored block hash is on the chain any more: raise TASKESCROW_INDEX_REORG_WINDOW and re-index."""


class ChainMoved(ChainError):
    """The chain changed while a range was read; the range is read again next cycle."""


def webhook_id(event_id: str) -> str:
    return "evt_" + event_id.removeprefix("0x")


def retraction_id(event_id: str) -> str:
    return "ret_" + event_id.removeprefix("0x")


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return str(param["type"])


class Watcher(Worker):
    """Indexes the escrow's events; see the module docstring for what it guarantees."""

    name = "watcher"

    def __init__(self, runtime: Runtime, *, progress: Callable[[int, int], None] | None = None) -> None:
        super().__init__(runtime)
        self.progress = progress
        self.decoder = LogDecoder(runtime.escrow.abi, runtime.chain_id)
        self.range = max(1, runtime.settings.index_max_range)
        self._ceiling = self.range
        get_order = next(i for i in runtime.escrow.abi if i.get("type") == "function" and i["name"] == "getOrder")
        assert _abi_type(get_order["outputs"][0]).startswith(
            "((bytes32,address,address,address,uint256,uint16,uint32,uint8,uint64),"
        ), "getOrder's OrderView changed: update _enrich"
        #: getOrder batches go out concurrently (the node answers them in parallel)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="watcher-rpc")
        self._get_order_selector = "0x" + function_signature_to_4byte_selector("getOrder(bytes32)").hex()

    # -- RPC helpers (the relayer's one chain client) --

    def _request(self, method: str, params: Sequence[Any]) -> Any:
        return self.rt.chain.request(method, params)  # type: ignore[attr-defined]

    def _batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(calls), 200):
            for result in self.rt.chain.batch(calls[start : start + 200]):  # type: ignore[attr-defined]
                if isinstance(result, RpcErrorReply):
                    raise result
                out.append(result)
        return out

    def _headers(self, numbers: Sequence[int]) -> dict[int, dict[str, Any]]:
        numbers = sorted(set(numbers))
        results = self._batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        out: dict[int, dict[str, Any]] = {}
        for n, header in zip(numbers, results, strict=True):
            if header is None:
                raise ChainMoved(f"block {n} is not on the node (yet)")
            out[n] = header
        return out

    def _call(self, data: bytes, block: int | str) -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        result = self._request("eth_call", [{"to": self.rt.escrow.address, "data": "0x" + data.hex()}, tag])
        return bytes.fromhex(str(result)[2:])

    def _get_logs(self, start: int, end: int) -> list[dict[str, Any]]:
        return list(
            self._request(
                "eth_getLogs", [{"address": self.rt.escrow.address, "fromBlock": hex(start), "toBlock": hex(end)}]
            )
        )

    # -- state --

    def state(self, session: Session) -> IndexState | None:
        return session.get(IndexState, STATE_NAME)

    def start_block(self) -> int:
        """Where indexing starts: ``TASKESCROW_INDEX_START_BLOCK``, else the block of this escrow's deployment
        record (``deployments/<chainId>.json``), else 0 (the deployment block is then searched on the chain)."""
        if self.rt.settings.index_start_block:
            return self.rt.settings.index_start_block
        from offchain.deployment import DeploymentError, load_record

        try:
            record = load_record(self.rt.chain_id)
        except (DeploymentError, OSError, ValueError):
            return 0
        if record is not None and record.address.lower() == self.rt.escrow.address.lower():
            return int(record.block_number)
        return 0

    def _initialise(self) -> None:
        start = self.start_block()
        escrow = self.rt.escrow
        recipient_data = b""
        if start > 0:
            try:
                recipient_data = self._call(escrow.encode("feeRecipient"), start - 1)
            except RpcErrorReply:
                recipient_data = b""
        if len(recipient_data) < 32:  # the escrow did not exist yet: its constructor set the first recipient
            recipient_data = self._call(escrow.encode("feeRecipient"), max(start, self._deployment_block()))
        (recipient,) = decode(["address"], recipient_data)
        timings = [
            decode(["uint64"], self._call(escrow.encode(name), "latest"))[0]
            for name in ("responseWindow", "reviewPeriod", "seriousDelay")
        ]
        header = self._headers([start - 1])[start - 1] if start > 0 else None
        with transaction(self.rt.sessions) as session:
            if self.state(session) is not None:
                return
            session.add(
                IndexState(
                    name=STATE_NAME,
                    chain_id=self.rt.chain_id,
                    address=escrow.address,
                    start_block=start,
                    block_number=start - 1,
                    block_hash=header["hash"] if header else None,
                    initial_fee_recipient=to_checksum_address(recipient),
                    fee_recipient=to_checksum_address(recipient),
                    response_window=timings[0],
                    review_period=timings[1],
                    serious_delay=timings[2],
                )
            )
            if header is not None:
                session.add(IndexBlock(number=start - 1, hash=header["hash"], timestamp=int(header["timestamp"], 16)))

    def _deployment_block(self) -> int:
        """The first block where the escrow has code (binary search on ``eth_getCode``)."""
        low, high = 0, int(self._request("eth_blockNumber", []), 16)
        while low < high:
            middle = (low + high) // 2
            if self._request("eth_getCode", [self.rt.escrow.address, hex(middle)]) not in ("0x", "", None):
                high = middle
            else:
                low = middle + 1
        return low

    def checkpoint(self) -> tuple[int, str | None]:
        with self.rt.sessions() as session:
            state = self.state(session)
            return (state.block_number, state.block_hash) if state else (self.start_block() - 1, None)

    # -- the cycle --

    def run_once(self) -> int:
        with self.rt.sessions() as session:
            state = self.state(session)
        if state is None:
            self._initialise()
            return 1
        if state.address.lower() != self.rt.escrow.address.lower() or state.chain_id != self.rt.chain_id:
            raise RelayerError(
                f"the index belongs to {state.address} on chain {state.chain_id}, not {self.rt.escrow.address}: "
                "use another TASKESCROW_DATABASE_URL"
            )
        head = int(self._request("eth_blockNumber", []), 16)
        if state.block_hash is not None:
            current = self._headers_or_none([state.block_number]).get(state.block_number)
            if current is None or current["hash"] != state.block_hash:
                self.rollback()
                return 1
        target = head - self.rt.settings.index_confirmations
        if target <= state.block_number:
            return 0
        try:
            indexed = self._index_next(state, target, head)
        except ChainMoved as exc:
            log.info("watcher: %s; reading the range again", exc)
            return 0
        if self.progress is not None:
            self.progress(self.checkpoint()[0], target)
        return max(indexed, 1)

    def _headers_or_none(self, numbers: Sequence[int]) -> dict[int, dict[str, Any]]:
        results = self._batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        return {n: h for n, h in zip(numbers, results, strict=True) if h is not None}

    def _fetch_logs(self, start: int, target: int) -> tuple[int, list[dict[str, Any]]]:
        """Logs of ``start..end`` for the largest ``end <= target`` the node accepts (halving on refusals)."""
        while True:
            end = min(target, start + self.range - 1)
            try:
                logs = self._get_logs(start, end)
            except (RpcErrorReply, RpcUnavailable) as exc:
                if end == start:
                    raise
                self._ceiling = end - start  # the node refused end - start + 1 blocks: never ask for that again
                self.range = max(1, (end - start + 1) // 2)
                log.info("watcher: eth_getLogs %d..%d refused (%s); trying %d blocks", start, end, exc, self.range)
                continue
            self.range = min(self.rt.settings.index_max_range, self._ceiling, self.range * 2)
            return end, logs

    def _index_next(self, state: IndexState, target: int, head: int) -> int:
        settings = self.rt.settings
        start = state.block_number + 1
        end, logs = self._fetch_logs(start, target)
        events = [e for e in (self.decoder.decode(item) for item in logs) if e is not None]
        window_start = max(start, head - settings.index_reorg_window + 1)
        wanted = {end} | {e.block_number for e in events if not e.block_time}
        wanted |= set(range(window_start, end + 1))
        headers = self._headers(sorted(wanted))
        for e in events:
            header = headers.get(e.block_number)
            if header is not None and header["hash"] != e.block_hash:
                raise ChainMoved(f"block {e.block_number} changed while its logs were read")
            if not e.block_time:
                e.block_time = int(headers[e.block_number]["timestamp"], 16)
        for n in range(window_start, end + 1):  # an unbroken chain from the checkpoint
            parent = headers[n - 1]["hash"] if n - 1 in headers else (state.block_hash if n == start else None)
            if parent is not None and headers[n]["parentHash"] != parent:
                raise ChainMoved(f"block {n} does not extend block {n - 1}")
        for e in events:
            if e.block_hash != headers.get(e.block_number, {"hash": e.block_hash})["hash"]:
                raise ChainMoved(f"block {e.block_number} changed")
        self._enrich(events)
        blocks = {n: headers[n] for n in range(window_start, end + 1)}
        for e in events:
            blocks.setdefault(e.block_number, {"hash": e.block_hash, "timestamp": hex(e.block_time)})
        blocks[end] = headers[end]
        if self._end_hash_changed(end, headers[end]["hash"]):
            raise ChainMoved(f"block {end} changed while the range was read")
        with transaction(self.rt.sessions) as session:
            current = session.scalar(select(IndexState).where(IndexState.name == STATE_NAME).with_for_update())
            if current is None or current.block_number != state.block_number:
                return 0  # another watcher got there first
            self._store(session, current, events, blocks, end, headers[end]["hash"])
        if events:
            notify()
        INDEXED_EVENTS.inc(len(events))
        INDEXED_BLOCK.set(end)
        return len(events)

    def _end_hash_changed(self, end: int, expected: str) -> bool:
        return self._headers([end])[end]["hash"] != expected

    def _enrich(self, events: Sequence[Event]) -> None:
        """``OrderFunded`` carries only part of the terms: read the rest with ``getOrder`` (batched).

        The terms never change once funded, so every call of a range reads the state at the range's last block (one
        state for the node to load, whose hash the range is checked against). ``OrderView`` is a static tuple: its
        ABI encoding is one 32-byte word per field, terms first.
        """
        funded = [e for e in events if e.name == "OrderFunded"]
        if not funded:
            return
        address = self.rt.escrow.address
        at = hex(max(e.block_number for e in events))
        calls = [("eth_call", [{"to": address, "data": self._get_order_selector + str(e.ref)[2:]}, at]) for e in funded]
        chunks = [calls[i : i + 200] for i in range(0, len(calls), 200)]
        results = [r for chunk in self._pool.map(self._batch, chunks) for r in chunk]
        for e, raw in zip(funded, results, strict=True):
            data = bytes.fromhex(str(raw)[2:])
            if len(data) < 32 * 9:
                raise ChainMoved(f"getOrder({e.ref}) at block {e.block_number} returned nothing")
            word = [int.from_bytes(data[32 * i : 32 * i + 32], "big") for i in (5, 6, 7)]
            e.args["terms"] = {"feeBps": word[0], "deliveryDuration": word[1], "maxRevisions": word[2]}

    def _store(
        self,
        session: Session,
        state: IndexState,
        events: Sequence[Event],
        blocks: dict[int, dict[str, Any]],
        end: int,
        end_hash: str,
    ) -> None:
        if events:
            session.execute(IndexEvent.__table__.insert(), [e.row() for e in events])
            projector = Projector(fee_recipient=state.fee_recipient)
            projection.load(session, projector, [e.ref for e in events if e.ref is not None])
            projector.apply_all(events)
            projection.write(session, projector)
            state.fee_recipient = projector.fee_recipient
            notices = [
                Notice(webhook_id(e.id), projection.WEBHOOK_TYPES[e.name], order_key(e), e.ref, e.block_number,
                       webhook_payload(e, webhook_id(e.id)))
                for e in events
            ]  # fmt: skip
            produce(session, notices)
        numbers = sorted(blocks)
        session.execute(delete(IndexBlock).where(IndexBlock.number >= numbers[0], IndexBlock.number <= numbers[-1]))
        session.execute(
            insert(IndexBlock),
            [{"number": n, "hash": blocks[n]["hash"], "timestamp": int(blocks[n]["timestamp"], 16)} for n in numbers],
        )
        keep_from = end - 2 * self.rt.settings.index_reorg_window
        session.execute(delete(IndexBlock).where(IndexBlock.number < keep_from))
        state.block_number, state.block_hash = end, end_hash

    # -- reorgs --

    def rollback(self) -> int:
        """Roll the index back to the common ancestor with the chain; returns the number of orphaned events."""
        with self.rt.sessions() as session:
            stored = list(
                session.execute(select(IndexBlock.number, IndexBlock.hash).order_by(IndexBlock.number.desc()))
            )
        ancestor: tuple[int, str] | None = None
        for start in range(0, len(stored), 64):
            chunk = stored[start : start + 64]
            chain = self._headers_or_none([n for n, _ in chunk])
            for n, stored_hash in chunk:
                if n in chain and chain[n]["hash"] == stored_hash:
                    ancestor = (n, stored_hash)
                    break
            if ancestor is not None:
                break
        if ancestor is None:
            raise ReorgTooDeep(
                "no stored block hash is on the chain any more: the reorg is deeper than TASKESCROW_INDEX_REORG_WINDOW;"
                " drop the index tables and backfill again"
            )
        number, block_hash = ancestor
        with transaction(self.rt.sessions) as session:
            state = session.scalar(select(IndexState).where(IndexState.name == STATE_NAME).with_for_update())
            assert state is not None
            orphaned = self._roll_back_to(session, state, number, block_hash)
        notify()
        REORGS.inc()
        log.warning("watcher: reorg; rolled back to block %d, %d events orphaned", number, orphaned)
        return orphaned

    def _roll_back_to(self, session: Session, state: IndexState, number: int, block_hash: str) -> int:
        rows = session.scalars(
            select(IndexEvent).where(IndexEvent.block_number > number).order_by(
                IndexEvent.block_number.desc(), IndexEvent.log_index.desc())
        ).all()  # fmt: skip
        orphaned = [Event.from_row(r) for r in rows]
        refs = sorted({e.ref for e in orphaned if e.ref is not None})
        session.execute(delete(IndexEvent).where(IndexEvent.block_number > number))
        session.execute(delete(IndexPayment).where(IndexPayment.block_number > number))
        session.execute(delete(IndexBlock).where(IndexBlock.number > number))
        for start in range(0, len(refs), 500):
            chunk = refs[start : start + 500]
            for table in (IndexOrder, IndexDelivery, IndexReview):
                session.execute(delete(table).where(table.ref.in_(chunk)))
            remaining = session.scalars(
                select(IndexEvent).where(IndexEvent.ref.in_(chunk)).order_by(IndexEvent.block_number,
                                                                              IndexEvent.log_index)
            ).all()  # fmt: skip
            replay = Projector(fee_recipient=state.initial_fee_recipient, emit_payments=False)
            replay.apply_all(Event.from_row(r) for r in remaining)
            projection.write(session, replay)
        last_change = session.scalar(
            select(IndexEvent.args)
            .where(IndexEvent.name == "FeeRecipientChanged")
            .order_by(IndexEvent.block_number.desc(), IndexEvent.log_index.desc())
            .limit(1)
        )
        state.fee_recipient = json.loads(last_change)["current"] if last_change else state.initial_fee_recipient
        notices = []
        for e in orphaned:
            ident = retraction_id(e.id)
            payload = {
                "id": ident,
                "type": "event.retracted",
                "ref": e.ref,
                "block": {"number": e.block_number, "hash": e.block_hash, "timestamp": e.block_time},
                "txHash": e.tx_hash,
                "logIndex": e.log_index,
                "event": e.name,
                "data": {"retractedId": webhook_id(e.id), "retractedType": projection.WEBHOOK_TYPES[e.name]},
            }
            notices.append(Notice(ident, "event.retracted", order_key(e), e.ref, e.block_number, payload))
        produce(session, notices)
        state.block_number, state.block_hash = number, block_hash
        return len(orphaned)


def index_counts(session: Session) -> dict[str, int]:
    """Row counts of the index tables (for the CLI and tests)."""
    return {
        table.__tablename__: int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in (IndexEvent, IndexOrder, IndexDelivery, IndexReview, IndexPayment)
    }

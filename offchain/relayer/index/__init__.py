"""The chain index: a watcher that turns OrderEscrow logs into rows, webhooks for the backend, a timeout keeper.

- :mod:`.models` -- index rows on the relayer's shared ``Base`` (checkpoint, blocks, events, orders, deliveries,
  reviews, payments, webhook endpoints/events/deliveries/attempts).
- :mod:`.watcher` -- logs → events from a persisted checkpoint, block-hash reorg detection and rollback.
- :mod:`.projection` -- events → order, delivery, review and payment rows (pure, replayable).
- :mod:`.webhooks` -- signed delivery with retries and a dead-letter list; HMAC helpers for receivers.
- :mod:`.keeper` -- submits due permissionless timeouts (``startRevision``, ``finalize``) through the job pipeline.
"""

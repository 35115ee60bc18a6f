"""The relayer: an HTTP API for the platform backend and a transaction pipeline in front of the escrow.

Layout (the Chainlink txmgr split, see ``/work/shared/STYLE.md`` items 9–14):

- :mod:`.settings` -- one ``Settings`` read from ``TASKESCROW_*`` environment variables.
- :mod:`.models` / :mod:`.store` -- rows (``transactions``, ``attempts``, ``signer_nonces``, ``api_keys``) and the
  storage functions, each named by the state transition it makes.
- :mod:`.chain` -- the one JSON-RPC client (several URLs, retries with backoff); :mod:`.fakechain` its fake.
- :mod:`.escrow` -- calldata for each job kind and custom-error decoding from the compiled artifact.
- :mod:`.submitter` / :mod:`.confirmer` / :mod:`.resender` -- the three workers.
- :mod:`.api` -- the FastAPI application (``/v1``).
"""

"""The relayer's HTTP API (FastAPI): ``main.create_app``, dependencies in ``deps``, routes per resource."""

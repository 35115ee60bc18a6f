"""Alembic environment: runs the relayer's migrations against ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context

from offchain.relayer.db import make_engine
from offchain.relayer.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""
engine = make_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()

"""``python -m offchain.relayer.index run|backfill|status`` is ``taskescrow index …``."""

from offchain.relayer.index.commands import index

index(prog_name="taskescrow index")

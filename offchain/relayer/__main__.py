"""``python -m offchain.relayer serve`` is ``taskescrow relayer serve``."""

from offchain.relayer.commands import relayer

relayer(prog_name="taskescrow relayer")

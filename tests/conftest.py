"""Shared test set-up: every test sees the pinned toolchain (solc adapter, anvil) first."""

from offchain import toolchain

toolchain.activate()

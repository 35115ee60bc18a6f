"""taskescrow's off-chain side: toolchain glue, the local chain helper, and (later) the relayer."""

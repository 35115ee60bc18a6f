"""The local-chain helper: anvil on a free port, answering, and always stopped."""

import socket
from pathlib import Path

from web3 import Web3

from offchain.localchain import LocalChain, free_port
from offchain.solc import compile_standard, standard_input

FIXTURES = Path(__file__).parent / "fixtures" / "contracts"


def test_local_chain_runs_with_bsc_testnet_chain_id_and_deploys_a_contract():
    output = compile_standard(standard_input({"contracts/Greeter.sol": FIXTURES / "Greeter.sol"}))
    artifact = output["contracts"]["contracts/Greeter.sol"]["Greeter"]
    with LocalChain(chain_id=97) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url))
        assert w3.eth.chain_id == 97
        owner = w3.eth.accounts[0]
        greeter = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["evm"]["bytecode"]["object"])
        receipt = w3.eth.wait_for_transaction_receipt(greeter.constructor("hello").transact({"from": owner}))
        deployed = w3.eth.contract(address=receipt.contractAddress, abi=artifact["abi"])
        assert deployed.functions.greeting().call() == "hello"
        assert deployed.functions.owner().call() == owner
        w3.eth.wait_for_transaction_receipt(deployed.functions.setGreeting("gm").transact({"from": owner}))
        assert deployed.functions.greeting().call() == "gm"


def test_local_chain_never_takes_a_busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with LocalChain() as chain:
            assert chain.port != taken
            assert Web3(Web3.HTTPProvider(chain.url)).is_connected()


def test_local_chain_is_stopped_when_the_block_fails():
    chain = LocalChain()
    try:
        with chain:
            url = chain.url
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not chain.running
    assert not Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 1})).is_connected()


def test_two_local_chains_run_side_by_side_and_time_moves_without_sleeping():
    with LocalChain() as first, LocalChain(chain_id=97) as second:
        assert first.port != second.port
        w3 = Web3(Web3.HTTPProvider(second.url))
        before = w3.eth.get_block("latest")["timestamp"]
        second.increase_time(3600)
        assert w3.eth.get_block("latest")["timestamp"] >= before + 3600
        snap = second.snapshot()
        second.mine(5)
        height = w3.eth.block_number
        assert second.revert(snap)
        assert w3.eth.block_number == height - 5


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_local_chain_leaves_no_spilled_state_behind():
    # anvil spills old states under $HOME/.foundry/anvil/tmp and does not remove them itself
    with LocalChain() as chain:
        home = Path(chain._home)
        w3 = Web3(Web3.HTTPProvider(chain.url))
        for _ in range(300):
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": w3.eth.accounts[1], "value": 1})
        assert home.is_dir()
    assert not home.exists()

"""The solc adapter: the compiler ape, py-solc-x and slither see, served from the npm `solc` package."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from offchain.solc import SolcError, compile_standard, standard_input
from offchain.toolchain import ROOT, solc_executable, solc_version

FIXTURES = Path(__file__).parent / "fixtures" / "contracts"


def greeter_input() -> dict:
    return standard_input({"contracts/Greeter.sol": FIXTURES / "Greeter.sol"})


def test_adapter_answers_version_like_native_solc():
    out = subprocess.run([str(solc_executable()), "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"^Version: (\d+\.\d+\.\d+)\+commit\.[0-9a-f]{8}", out.stdout, re.M)
    assert match, out.stdout
    assert match.group(1) == solc_version()


def test_py_solc_x_finds_the_adapter_as_the_pinned_version():
    import solcx

    assert [str(v) for v in solcx.get_installed_solc_versions()] == [solc_version()]
    assert solcx.install.get_executable(solc_version()) == solc_executable()


def test_compiler_version_is_pinned_in_one_place():
    config = yaml.safe_load((ROOT / "ape-config.yaml").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert config["solidity"]["version"] == solc_version()
    assert lock["packages"]["node_modules/solc"]["version"] == solc_version()


def test_adapter_compiles_a_contract_importing_openzeppelin():
    output = compile_standard(greeter_input())
    greeter = output["contracts"]["contracts/Greeter.sol"]["Greeter"]
    assert len(greeter["evm"]["bytecode"]["object"]) > 1000
    assert any(item.get("name") == "owner" for item in greeter["abi"])
    # The import was resolved from node_modules through the remapping.
    assert "node_modules/@openzeppelin/contracts/access/Ownable.sol" in output["sources"]


def test_adapter_prints_only_json_on_stdout():
    proc = subprocess.run(
        [str(solc_executable()), "--standard-json"],
        input=json.dumps(greeter_input()),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    json.loads(proc.stdout)  # raises if anything but one JSON document was printed


def test_adapter_bytecode_is_identical_between_runs():
    first = compile_standard(greeter_input())["contracts"]["contracts/Greeter.sol"]["Greeter"]
    second = compile_standard(greeter_input())["contracts"]["contracts/Greeter.sol"]["Greeter"]
    assert first["evm"]["bytecode"]["object"] == second["evm"]["bytecode"]["object"]


def test_adapter_reports_a_syntax_error_with_file_and_line():
    broken = standard_input({"contracts/Broken.sol": FIXTURES / "Broken.sol"})
    with pytest.raises(SolcError, match=r"ParserError.*\n.*contracts/Broken.sol:7:"):
        compile_standard(broken)


def test_adapter_refuses_unknown_options_with_a_clear_message():
    proc = subprocess.run([str(solc_executable()), "--bin", "x.sol"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unsupported option --bin" in proc.stderr


def test_adapter_reports_a_missing_import_by_name():
    source = 'pragma solidity ^0.8.24; import "@openzeppelin/contracts/Nope.sol"; contract A {}'
    input_json = {
        "language": "Solidity",
        "sources": {"A.sol": {"content": source}},
        "settings": greeter_input()["settings"],
    }
    with pytest.raises(SolcError, match=r"Nope\.sol"):
        compile_standard(input_json)


def ape_project(tmp_path: Path, contract: Path) -> Path:
    project = tmp_path / "project"
    (project / "contracts").mkdir(parents=True)
    shutil.copy(ROOT / "ape-config.yaml", project / "ape-config.yaml")
    shutil.copy(contract, project / "contracts" / contract.name)
    return project


def run_ape_compile(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ape"), "compile", "--force"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ape_compile_builds_a_contract_importing_openzeppelin(tmp_path):
    project = ape_project(tmp_path, FIXTURES / "Greeter.sol")
    proc = run_ape_compile(project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((project / ".build" / "__local__.json").read_text())
    assert "Greeter" in manifest["contractTypes"]


def test_ape_compile_fails_clearly_on_a_syntax_error(tmp_path):
    project = ape_project(tmp_path, FIXTURES / "Broken.sol")
    proc = run_ape_compile(project)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "ParserError" in output
    assert "contracts/Broken.sol:7:" in output

"""The top-level command line: usage errors as Nix's tools report them."""

import subprocess
import sys

import pytest

from nixlite.cli import main


def _run(argv):
    return subprocess.run([sys.executable, "-m", "nixlite", *argv], capture_output=True, text=True)


def test_no_command_is_a_usage_error():
    # like `nix` without a subcommand: an error and status 1, not help and status 0
    result = _run([])
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == ("error: no subcommand specified\n"
                             "Try 'nixlite --help' for more information.\n")


def test_unknown_command_is_named(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        "error: 'frobnicate' is not a recognised command")


def test_only_the_command_run_is_imported():
    code = ("import sys; from nixlite.cli import main; main(['parse', '-E', '1']); "
            "print(sorted(m for m in sys.modules if m.startswith('nixlite.cli.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.splitlines()[-1] == "['nixlite.cli.output', 'nixlite.cli.parse_cmd']"

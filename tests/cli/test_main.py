import subprocess
import sys

from nixlite import __version__
from nixlite.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"nixlite {__version__}"


def test_help_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "nixlite", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: nixlite" in out


def test_bad_flags_are_errors_as_in_nix(capsys):
    for argv, message in (
        (["eval", "--bogus"], "error: unrecognised flag '--bogus'"),
        (["eval", "-E", "1", "-A"], "error: '-A' requires an argument"),
        (["eval", "--arg", "x"], "error: flag '--arg' requires 2 argument(s)"),
    ):
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 1
        else:
            raise AssertionError(f"{argv} did not fail")
        assert capsys.readouterr().err.splitlines()[0] == message

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

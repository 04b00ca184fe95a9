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


def test_eval_store_flag_picks_the_store_per_run(tmp_path, monkeypatch, capsys):
    """``eval --store DIR`` copies sources into DIR; two runs in one process with different
    stores do not share one (there is no process-wide store)."""
    from nixlite.store.local import LocalStore

    monkeypatch.delenv("NIX_STORE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.txt").write_text("hello\n")
    printed = []
    for name in ("a", "b"):
        assert main(["eval", "--store", str(tmp_path / name), "-E", '"${./f.txt}"']) == 0
        printed.append(capsys.readouterr().out.strip().strip('"'))
    assert printed[0] == printed[1] and printed[0].endswith("-f.txt")
    for name in ("a", "b"):
        store = LocalStore(str(tmp_path / name))
        assert store.is_valid(printed[0])
        assert open(store.physical(printed[0])).read() == "hello\n"
        store.close()

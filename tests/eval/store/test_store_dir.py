"""NIX_STORE_DIR moves the logical store, as in Nix: every path and hash follows it."""
from nixlite.eval.api import evaluate_string
from nixlite.eval.values import force
from nixlite.store.paths import text_path_of


def test_store_dir_override(store, monkeypatch, tmp_path):
    monkeypatch.setenv("NIX_STORE_DIR", "/opt/other-store")
    from nixlite.store.local import LocalStore

    v = evaluate_string('let f = builtins.toFile "x" "hello"; d = derivation { name = "d"; '
                        'system = "s"; builder = "/bin/sh"; src = f; }; '
                        'in [ f (builtins.readFile f) d.drvPath d.outPath ]', strict=True)
    f, text, drv, out = (str(force(x)) for x in v)
    assert f == text_path_of("x", b"hello", sdir="/opt/other-store")
    assert text == "hello"  # read back through the physical store
    assert drv.startswith("/opt/other-store/") and out.startswith("/opt/other-store/")
    s = LocalStore()
    assert s.store_dir == "/opt/other-store"
    assert s.is_valid(drv) and s.physical(drv).startswith(s.root)
    s.close()


def test_installed_nix_store_is_never_read(store):
    """A path present in a real /nix/store but not in nixlite's store does not exist for
    evaluation (results must not depend on another tool's store)."""
    import os

    import pytest

    real = sorted(os.listdir("/nix/store")) if os.path.isdir("/nix/store") else []
    candidates = [f"/nix/store/{n}" for n in real if len(n) > 33 and n[32] == "-"]
    if not candidates:
        pytest.skip("no installed Nix store with paths on this machine")
    p = candidates[0]
    assert not store.is_valid(p)
    assert evaluate_string(f"builtins.pathExists {p}") is False

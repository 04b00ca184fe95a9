"""NIX_STORE_DIR moves the logical store, as in Nix: every path and hash follows it."""
from nixlite.eval.api import evaluate_string
from nixlite.eval.values import force
from nixlite.store.paths import text_path_of


def test_store_dir_override(store, monkeypatch, tmp_path):
    monkeypatch.setenv("NIX_STORE_DIR", "/opt/other-store")
    from nixlite.store import local

    local.reset_default_store()
    v = evaluate_string('let f = builtins.toFile "x" "hello"; d = derivation { name = "d"; '
                        'system = "s"; builder = "/bin/sh"; src = f; }; '
                        'in [ f (builtins.readFile f) d.drvPath d.outPath ]', strict=True)
    f, text, drv, out = (str(force(x)) for x in v)
    assert f == text_path_of("x", b"hello", sdir="/opt/other-store")
    assert text == "hello"  # read back through the physical store
    assert drv.startswith("/opt/other-store/") and out.startswith("/opt/other-store/")
    s = local.default_store()
    assert s.store_dir == "/opt/other-store"
    s.flush()
    assert s.is_valid(drv) and s.physical(drv).startswith(s.root)
    local.reset_default_store()

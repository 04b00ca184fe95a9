"""The derivation corpus (fixtures/drv): nixlite instantiate against Nix 2.8's goldens.

Each ``fixtures/drv/<case>.nix`` is instantiated in-process by ``nixlite instantiate``
into a temporary nixlite store. The printed drvPaths, every output path and the exact
bytes of the top ``.drv`` and of every other ``.drv`` in its closure must equal what
``nix-instantiate`` 2.8 produced (``<case>.drv.json``, made by ``fixtures/regen.py drv``).
Cases whose golden is an error must fail with exit status 1 and an ``error:`` message.
Path imports name files inside ``fixtures/drv/data``, so store paths depend only on their
content and base name, never on where the repository lives.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("fixtures_regen", REPO / "fixtures" / "regen.py")
regen = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("fixtures_regen", regen)
_spec.loader.exec_module(regen)

CASES = regen.drv_cases()
KNOWN = regen.known_failures(regen.DRV_DIR)


def golden(case) -> dict:
    return json.loads(regen.drv_golden_path(case).read_text())


def _params():
    return [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason="in fixtures/drv/known-failures.txt", strict=True)]
                         if c.name in KNOWN else []) for c in CASES]


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    """One nixlite store for the module: cases share dependencies, as in a real store."""
    return tmp_path_factory.mktemp("drv-store") / "store"


@pytest.mark.parametrize("case", _params())
def test_instantiate_matches_nix(case, store_root, capsysbinary, monkeypatch):
    from nixlite.cli import main
    from nixlite.store import local

    want = golden(case)
    monkeypatch.setenv("NIX_PATH", "")
    monkeypatch.setenv("NIXLITE_STORE", str(store_root))
    monkeypatch.delenv("NIX_STORE_DIR", raising=False)
    monkeypatch.chdir(case.path.parent)
    capsysbinary.readouterr()
    status = main(["instantiate", "--store", str(store_root), *case.args, str(case.path)])
    out = capsysbinary.readouterr()
    stdout = regen.decode(out.out)
    stderr = regen.normalise(regen.decode(out.err))

    if "error" in want:
        assert status == 1, f"expected an error like {want['error'].splitlines()[0]!r}, got {stdout!r}"
        assert stderr.lstrip().startswith("error:"), stderr
        return

    assert status == 0, stderr
    printed = [line for line in stdout.split("\n") if line]
    assert printed == want["printed"]
    store = local.LocalStore(str(store_root))
    try:
        text = regen.decode(store.read_text(want["drvPath"]))
        assert regen.outputs_of_drv_text(text) == want["outputs"]
        assert text == want["drv"]
        for drv_path, drv_text in sorted(want["closure"].items()):
            assert store.is_valid(drv_path), f"{drv_path} missing from the closure"
            assert regen.decode(store.read_text(drv_path)) == drv_text, drv_path
    finally:
        store.close()


def test_corpus_is_large_and_has_goldens():
    assert len(CASES) >= 40
    missing = [c.name for c in CASES if not regen.drv_golden_path(c).exists()]
    assert not missing, f"run fixtures/regen.py drv: {missing}"
    unknown = KNOWN - {c.name for c in CASES}
    assert not unknown, f"known-failures.txt names unknown cases: {sorted(unknown)}"


@pytest.mark.nix
@pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="Nix 2.8 not installed")
def test_goldens_match_live_nix():
    """The stored goldens are still what nix-instantiate 2.8 writes."""
    differing = [c.name for c in CASES
                 if regen.drv_goldens_text(regen.instantiate_drv(c)) != regen.drv_golden_path(c).read_text()]
    assert not differing, f"goldens differ from live Nix (run fixtures/regen.py drv): {differing}"

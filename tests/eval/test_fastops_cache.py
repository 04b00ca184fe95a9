"""The on-disk cache of the evaluator's generated fast paths (``fastops._CodeCache``)."""

from __future__ import annotations

import atexit

import pytest

from nixlite.eval import fastops

SOURCE = "def make(P):\n def f(env):\n  return env + P\n return f\n"


@pytest.fixture(autouse=True)
def _no_write_at_exit(monkeypatch):
    """The tests write explicitly; their temporary directories are gone at exit."""
    monkeypatch.setattr(atexit, "register", lambda fn: None)


def _run(code) -> int:
    namespace: dict = {}
    exec(code, {}, namespace)
    return namespace["make"](2)(40)


def test_compiled_code_is_read_back_by_the_next_process(tmp_path, monkeypatch):
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(tmp_path))
    first = fastops._CodeCache()
    assert _run(first.get(SOURCE, "<label>")) == 42
    first._write()
    assert first.path().parent == tmp_path

    second = fastops._CodeCache()
    code = second.get(SOURCE, "<label>")
    assert not second.added  # read from the file, nothing compiled
    assert code.co_filename == "<label>" and _run(code) == 42


def test_a_damaged_file_is_ignored_and_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(tmp_path))
    cache = fastops._CodeCache()
    cache.path().write_bytes(b"\x00not marshal")
    assert _run(cache.get(SOURCE, "<label>")) == 42
    assert cache.added
    cache._write()
    assert _run(fastops._CodeCache().get(SOURCE, "<label>")) == 42

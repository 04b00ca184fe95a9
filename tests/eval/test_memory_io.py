"""Evaluation needs no file system: with an in-memory ``EvalIO`` every read, directory
listing, search-path lookup, parse and error excerpt goes through it."""

from __future__ import annotations

import contextlib
import os
import sys

import pytest

from nixlite.eval.api import evaluate_string
from nixlite.eval.io import MemoryIO
from nixlite.eval.state import EvalState
from nixlite.eval.values import EvalError, deep_force
from nixlite.eval.printer import print_ambiguous

FILES = {
    "/src/default.nix": "{ n ? 2 }: import ./lib.nix { inherit n; }",
    "/src/lib.nix": "{ n }: { sq = n * n; names = builtins.attrNames (builtins.readDir ./data); "
                    "text = builtins.readFile ./data/a.txt; here = builtins.pathExists ./data/b; "
                    "found = import <tools/t.nix>; }",
    "/src/data/a.txt": "hello\n",
    "/src/data/sub/x": "",
    "/srv/tools/t.nix": "[ 1 2 ]",
    "/src/bad.nix": "let\n  x = 1;\nin\n  x + \"a\"\n",
}

_DISK_EVENTS = {"open", "os.listdir", "os.scandir", "os.chdir", "os.mkdir", "os.rename"}
_touched: list | None = None  # collecting while not None


def _audit(event, args):
    if _touched is not None and event in _DISK_EVENTS:
        _touched.append((event, args[:1]))


sys.addaudithook(_audit)


@contextlib.contextmanager
def no_disk():
    """Fail on any file-system access inside the block: opens and listings by audit
    event, stat calls and the current directory by replacing them."""
    global _touched
    evaluate_string("1")  # load what a first evaluation loads (builtins, parser tables)

    def refuse(*args, **kwargs):
        raise AssertionError(f"file system touched: {args!r}")

    saved = {name: getattr(os, name) for name in ("stat", "lstat", "getcwd")}
    for name in saved:
        setattr(os, name, refuse)
    _touched = []
    try:
        yield
    finally:
        touched, _touched = _touched, None
        for name, fn in saved.items():
            setattr(os, name, fn)
    assert touched == []


def _state() -> EvalState:
    # a relative search-path entry is taken from the I/O's current directory
    return EvalState(io=MemoryIO(FILES, cwd="/srv"), search_path=["."], use_nix_path_env=False)


def test_memory_io_evaluates_without_the_file_system():
    with no_disk():
        state = _state()
        v = deep_force(state.eval_string("import /src { }"))
        here = state.eval_string("builtins.toString ./.")
    assert print_ambiguous(v) == ('{ found = [ 1 2 ]; here = false; names = [ "a.txt" "sub" ]; '
                                  'sq = 4; text = "hello\\n"; }')
    assert here == "/srv"


def test_memory_io_error_excerpt_comes_from_the_io():
    with no_disk(), pytest.raises(EvalError) as info:
        _state().eval_file("/src/bad.nix")
    with no_disk():
        text = info.value.render()
    assert text == (
        "error: cannot add a string to an integer\n\n"
        "       at /src/bad.nix:4:7:\n\n"
        "            3| in\n"
        "            4|   x + \"a\"\n"
        "             |       ^"
    )  # as nix-instantiate 2.8 prints it for the same file on disk


def test_memory_io_has_no_store():
    with no_disk(), pytest.raises(EvalError, match="this evaluation has no store"):
        _state().eval_string('"${/src/data/a.txt}"')

"""Every case of the Nix 2.8 store vectors (tests/store/vectors) through the evaluator."""
import json
import os
import shutil
from pathlib import Path

import pytest

from nixlite.errors import NixliteError
from nixlite.eval.api import evaluate_string
from nixlite.eval.values import Attrs, CStr, NixPath, force

VECTORS_DIR = Path(__file__).parents[2] / "store" / "vectors"
CASES = json.loads((VECTORS_DIR / "store-vectors.json").read_text())
PATH_LITERAL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+/")


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory):
    """The vectors folder at a path usable inside Nix path literals."""
    if set(str(VECTORS_DIR)) <= PATH_LITERAL_CHARS:
        return str(VECTORS_DIR)
    dest = tmp_path_factory.mktemp("vectors") / "v"
    shutil.copytree(VECTORS_DIR, dest, symlinks=True)
    return str(dest)


def to_json(v):
    """What `nix-instantiate --eval --strict --json` prints, as Python data."""
    v = force(v)
    t = type(v)
    if t is Attrs:
        if "outPath" in v:
            return to_json(v["outPath"])
        return {k: to_json(v[k]) for k in sorted(v)}
    if t is list:
        return [to_json(x) for x in v]
    if t is CStr:
        return str.__str__(v)
    if t is NixPath:
        return v.path
    return v


def _case_ids(kind):
    return [pytest.param(c, id=c["id"]) for c in CASES if c["kind"] == kind]


@pytest.mark.parametrize("case", _case_ids("derivation"))
def test_derivation(case, store, vectors_dir):
    expr = case["expr"].replace("@VECTORS@", vectors_dir)
    d = evaluate_string(expr)
    e = case["expect"]
    assert str(force(d["drvPath"])) == e["drvPath"]
    outs = {str(force(force(o)["outputName"])): str(force(force(o)["outPath"])) for o in force(d["all"])}
    assert outs == e["outPaths"]
    assert force(d["outputName"]) == e["defaultOutput"]
    with open(store.physical(e["drvPath"]), "rb") as f:
        assert f.read() == e["drv_aterm"].encode()
    for path, aterm in case["aux"].get("input_drv_aterms", {}).items():
        assert open(store.physical(path), "rb").read() == aterm.encode()
    assert store.verify() == []


@pytest.mark.parametrize("case", _case_ids("eval"))
def test_eval(case, store, vectors_dir):
    expr = case["expr"].replace("@VECTORS@", vectors_dir)
    assert to_json(evaluate_string(expr, strict=True)) == case["expect"]["value"]


@pytest.mark.parametrize("case", _case_ids("error"))
def test_error(case, store, vectors_dir):
    expr = case["expr"].replace("@VECTORS@", vectors_dir)
    wrapped = f"let v = ({expr}); in if builtins.isAttrs v && v ? drvPath then v.drvPath else v"
    with pytest.raises(NixliteError) as info:
        evaluate_string(wrapped, strict=True)
    assert case["expect"]["error_contains"] in info.value.message

"""Path imports of store paths: filters see logical /nix/store paths, never nixlite's
physical location, and results match Nix 2.8."""
import shutil
import subprocess

import pytest

from nixlite.eval.api import evaluate_string
from nixlite.eval.values import force

NIX = shutil.which("nix-instantiate")

EXPR = ('let src = builtins.path { path = @DIR@; name = "src"; }; seen = builtins.path { '
        'path = src; name = "filtered"; filter = p: t: builtins.trace p (baseNameOf p != "skip"); }; '
        'in [ src seen ]')


def make_dir(tmp_path):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "keep").write_text("k")
    (d / "skip").write_text("s")
    (d / "sub" / "x").write_text("x")
    return str(d)


def test_filter_sees_logical_store_paths(store, tmp_path):
    seen = []
    expr = EXPR.replace("@DIR@", make_dir(tmp_path))
    src, filtered = (str(force(x)) for x in evaluate_string(expr, strict=True, trace_sink=seen.append))
    assert seen and all(line.startswith(f"trace: {src}/") for line in seen)
    assert sorted(line.split("/")[-1] for line in seen) == ["keep", "skip", "sub", "x"]
    assert filtered.endswith("-filtered")


@pytest.mark.nix
@pytest.mark.skipif(NIX is None, reason="nix-instantiate not installed")
def test_filtered_store_path_matches_nix(store, tmp_path):
    expr = EXPR.replace("@DIR@", make_dir(tmp_path))
    ref = subprocess.run([NIX, "--eval", "--strict", "--json", "--read-write-mode", "-E", expr],
                         capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    import json

    assert [str(force(x)) for x in evaluate_string(expr, strict=True, trace_sink=lambda _: None)] \
        == json.loads(ref.stdout)

"""``nixlite plan`` of a real nixpkgs attribute (17.09's ``hello``): the plan holds the
whole ``.drv`` closure — bootstrap fetches, command builders, patches and scripts as
sources — and loading it into an empty store (no evaluation) writes every ``.drv`` at
the path the plan records, the target's being the one Nix 2.8 instantiates.  Plan only:
building it would build a toolchain."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib

from nixlite.plan.document import parse
from nixlite.plan.load import load
from nixlite.store.local import LocalStore


def test_hello_plan_rebuilds_every_drv(nixpkgs_tree, tmp_path):
    env = dict(os.environ, NIX_PATH="")
    plan_file = tmp_path / "hello.toml"
    proc = subprocess.run([sys.executable, "-m", "nixlite", "plan", str(nixpkgs_tree), "-A", "hello",
                           "--store", str(tmp_path / "eval-store"), "-o", str(plan_file)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    document = tomllib.loads(plan_file.read_text())
    nodes = document["nodes"]
    kinds = {n["kind"] for n in nodes.values()}
    assert kinds == {"source", "fetch", "command"}
    (target,) = document["targets"]
    nar_files = [n["nar-file"] for n in nodes.values() if "nar-file" in n]
    assert nar_files and all((tmp_path / f).is_file() for f in nar_files)
    assert any("contents" in n and n["name"].endswith(".sh") for n in nodes.values())

    plan = parse(plan_file.read_bytes(), plan_file.name, str(tmp_path))
    loaded = load(plan, LocalStore(str(tmp_path / "plan-store")))
    assert loaded.changed == []
    recorded = {i: n["drv"] for i, n in nodes.items() if "drv" in n}
    assert loaded.drv_paths == recorded and len(recorded) > 100
    if shutil.which("nix-instantiate"):
        nix = subprocess.run(["nix-instantiate", "--readonly-mode", str(nixpkgs_tree), "-A", "hello"],
                             capture_output=True, text=True, env=env)
        assert nix.returncode == 0, nix.stderr
        assert loaded.drv_paths[target["node"]] == nix.stdout.strip()

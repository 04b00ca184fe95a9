"""nixlite build against nix-build 2.8 on graphs of plain derivations: the same out paths,
the same NAR bytes (``nix-store --dump`` vs ``nixlite store dump``), the same references."""

from __future__ import annotations

import hashlib
import json
import os

from nixlite.store.hashes import Hash
from nixlite.store.nar import nar_hash

from .conftest import DATA, nix_store


def _hashes(tmp_path) -> list[str]:
    tree = tmp_path / "fixed-tree"
    tree.mkdir()
    (tree / "x").write_bytes(b"x\n")
    os.symlink("x", tree / "y")
    tree_hash, _ = nar_hash(str(tree))
    flat = Hash("sha256", hashlib.sha256(b"hi").digest())
    return ["--argstr", "flatHash", flat.base32(), "--argstr", "treeHash", tree_hash.sri()]


def test_graph_matches_nix_build(tmp_path, nixlite, nix_build):
    args = [os.path.join(DATA, "graph.nix"), "-A", "all", *_hashes(tmp_path)]
    ref = nix_build(*args, "-o", str(tmp_path / "nix" / "result"))
    assert ref.returncode == 0, ref.stderr.decode()
    ours = nixlite("build", *args)
    assert ours.returncode == 0, ours.stderr.decode()
    assert ours.stdout == ref.stdout
    outs = ref.stdout.decode().split()
    assert len(outs) == 11

    closure = sorted(set(nix_store("-qR", *outs).decode().split()))
    mine = nixlite("store", "requisites", *outs, check=True).stdout.decode().split()
    assert mine == closure
    for path in closure:
        assert nixlite("store", "dump", path, check=True).stdout == nix_store("--dump", path), path
        info = json.loads(nixlite("store", "path-info", "--json", path, check=True).stdout)[0]
        assert info["references"] == sorted(nix_store("-q", "--references", path).decode().split()), path

    # result links named as nix-build names them (result, result-2…, result-4-dev), each
    # pointing where the output really is, and registered as GC roots
    links = sorted(n for n in os.listdir(tmp_path) if n.startswith("result"))
    assert links == sorted(os.listdir(tmp_path / "nix")) and "result-4-dev" in links
    for name in links:
        target = os.readlink(tmp_path / name)
        assert os.path.basename(target) == os.path.basename(os.readlink(tmp_path / "nix" / name))
        assert os.path.exists(target)
    roots = nixlite("store", "gc", "--print-roots", check=True).stdout.decode().splitlines()
    assert sorted(r.split(" -> ")[0] for r in roots) == [str(tmp_path / n) for n in links]
    tree = os.readlink(tmp_path / "result-3")
    assert tree.endswith(outs[2][len("/nix/store"):])
    # as in Nix, setuid bits cannot even be set (seccomp); modes end as 0444/0555, mtime 1
    modes = {name: os.lstat(os.path.join(tree, "sub", "deeper", name)) for name in ("run", "exe")}
    assert [oct(st.st_mode & 0o7777) for st in modes.values()] == ["0o444", "0o555"]
    assert {st.st_mtime for st in modes.values()} == {1}


def test_build_again_is_a_no_op(tmp_path, nixlite):
    args = [os.path.join(DATA, "graph.nix"), "-A", "chain", *_hashes(tmp_path), "--no-out-link"]
    first = nixlite("build", *args, check=True)
    assert b"building '" in first.stderr
    again = nixlite("build", *args, check=True)
    assert again.stdout == first.stdout and again.stderr == b""

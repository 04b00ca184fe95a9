"""Failing builds: nixlite's messages and exit statuses against nix-build 2.8's (whose
messages are Nix's; only the log hint names nixlite's own command)."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from .conftest import DATA

FILE = os.path.join(DATA, "failures.nix")


@pytest.fixture
def tag() -> str:
    return "f" + uuid.uuid4().hex[:10]


@pytest.fixture
def nix_build(nix_build, tmp_path):
    """nix-build with a database of its own (``/nix/store`` still, state elsewhere).  On the
    shared database, Nix prints ``warning: error: SQLite database '…' is busy`` whenever
    another Nix process (a test running beside this one) holds it: noise in the very
    stderr these tests compare."""
    state = f"local?state={tmp_path / 'nix-state'}"
    return lambda *argv: nix_build(*argv, "--store", state)


def _both(nixlite, nix_build, tag, *argv):
    args = [FILE, "--argstr", "tag", tag, "--no-out-link", *argv]
    return nixlite("build", *args), nix_build(*args, "-Q")


def _ours_as_nix(stderr: bytes) -> bytes:
    return stderr.replace(b"run 'nixlite store log ", b"run 'nix log ")


@pytest.mark.parametrize("attr,status", [
    ("noisy", 100), ("silent", 100), ("a", 100), ("both", 100), ("mismatch", 102),
    ("disallowed", 1), ("requisites", 1), ("cycle", 1), ("noOutput", 1), ("fixedRefs", 102),
])
def test_failure_matches_nix_build(nixlite, nix_build, tag, attr, status):
    ours, ref = _both(nixlite, nix_build, tag, "-A", attr)
    assert ref.returncode == status, ref.stderr.decode()
    assert ours.returncode == status
    assert _ours_as_nix(ours.stderr).decode() == ref.stderr.decode()
    assert ours.stdout == b""


def test_fixed_output_must_not_refer_to_store_paths(nixlite, nix_build, tag):
    from nixlite.store.nar import nar_hash_bytes

    ok = nixlite("eval", FILE, "--argstr", "tag", tag, "-A", "ok.outPath", check=True)
    h, _ = nar_hash_bytes(ok.stdout.decode().strip().strip('"').encode() + b"\n")
    ours, ref = _both(nixlite, nix_build, tag, "-A", "fixedRefs", "--argstr", "fixedRefsHash", h.sri())
    # Nix 2.8 registers the output with a reference its path does not account for; today's
    # Nix refuses it (as nixlite does) with this message
    assert ref.returncode == 0 and ours.returncode == 1
    assert ours.stderr.decode().endswith(
        f"error: fixed output derivation '{tag}-fixed-refs' is not allowed to refer to other store "
        "paths.\n       You may need to use the 'unsafeDiscardReferences' derivation attribute, "
        "see the manual for more details.\n")


def test_failed_build_leaves_no_output_and_keeps_its_log(nixlite, tag, store):
    p = nixlite("build", FILE, "--argstr", "tag", tag, "-A", "noisy", "-L")
    assert p.returncode == 100
    err = p.stderr.decode()
    # -L: the whole log as it comes, and no tail in the error
    assert "line 1\n" in err and err.endswith("failed with exit code 3\n")
    drv = err.split("building '")[1].split("'")[0]
    assert not [n for n in os.listdir(os.path.join(store, "store")) if n.endswith(f"{tag}-noisy")]
    log = nixlite("store", "log", drv, check=True).stdout.decode()
    assert log.splitlines() == [f"line {i}" for i in range(1, 16)] + ["to-stderr"]
    assert not os.path.exists(os.path.join("/tmp", f"nix-build-{os.path.basename(drv)[33:]}-0"))


def test_keep_failed_keeps_the_build_directory(nixlite, tag):
    p = nixlite("build", FILE, "--argstr", "tag", tag, "-A", "silent", "-K")
    note = [line for line in p.stderr.decode().splitlines() if line.startswith("note:")]
    assert p.returncode == 100 and len(note) == 1
    kept = note[0].split("'")[1]
    assert os.path.isdir(kept) and f"{tag}-silent.drv" in kept
    os.rmdir(kept)


def test_check_reports_a_difference(nixlite, nix_build, tag):
    args = [FILE, "--argstr", "tag", tag, "--no-out-link"]
    built = nixlite("build", *args, "-A", "random", "-A", "ok", check=True)
    random_out, ok_out = built.stdout.decode().split()
    # a deterministic output checks out; a random one is reported as Nix reports it
    assert nixlite("build", *args, "-A", "ok", "--check").returncode == 0
    assert nix_build(*args, "-A", "random").returncode == 0
    ours = nixlite("build", *args, "-A", "random", "--check", "-K")
    ref = nix_build(*args, "-A", "random", "--check", "-K")
    assert ours.returncode == ref.returncode == 104
    mine, theirs = ours.stderr.decode().splitlines(), ref.stderr.decode().splitlines()
    drv = mine[0].split("'")[1]
    assert mine[0] == theirs[0] == f"checking outputs of '{drv}'..."
    assert mine[-1] == theirs[-1] == (
        f"error: derivation '{drv}' may not be deterministic: output "
        f"'{random_out}' differs from '{random_out}.check'")
    for kept in (mine[1], theirs[1]):  # -K: both keep their build directory
        assert kept.startswith("note: keeping build directory '/tmp/nix-build-")
        shutil.rmtree(kept.split("'")[1])
    kept = nixlite("store", "path-info", random_out, check=True)
    assert kept.returncode == 0 and ok_out


def test_check_needs_valid_outputs(nixlite, nix_build, tag):
    ours, ref = _both(nixlite, nix_build, tag, "-A", "ok", "--check")
    assert ours.returncode == ref.returncode == 1
    assert ours.stderr == ref.stderr


def test_dry_run_lists_what_would_be_built(nixlite, nix_build, tag):
    ours, ref = _both(nixlite, nix_build, tag, "-A", "both", "-A", "ok", "--dry-run")
    assert ours.returncode == ref.returncode == 0
    assert ours.stderr == ref.stderr and ours.stdout == ref.stdout == b""

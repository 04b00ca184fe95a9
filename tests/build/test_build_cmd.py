"""nixlite build beyond single builds: import from derivation, concurrent builds on one
store, interruption, garbage collection, builtin:fetchurl, and the namespace variants."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
import uuid

import pytest

from nixlite.build.realise import Realiser
from nixlite.store.local import LocalStore
from nixlite.store.nar import nar_hash_bytes

from .conftest import nixlite_cmd


def _drv(name: str, script: str, extra: str = "") -> str:
    return (f'derivation {{ name = "{name}"; system = "x86_64-linux"; builder = "/bin/sh"; '
            f'args = [ "-c" "PATH=/bin:/usr/bin; {script}" ]; {extra} }}')


def test_import_from_derivation(tmp_path, nixlite, nix_build):
    tag = uuid.uuid4().hex[:8]
    gen = _drv(f"gen-{tag}", "echo \\\"{ x = \\\\\\\"ifd\\\\\\\"; }\\\" > $out")
    expr = (f"let gen = {gen}; v = import gen; in "
            + _drv("use-${v.x}", "echo '${builtins.readFile gen}' > $out; "
                   "echo ${if builtins.pathExists \"${gen}\" then \"yes\" else \"no\"} >> $out"))
    (tmp_path / "ifd.nix").write_text(expr)
    ours = nixlite("build", "ifd.nix", check=True)
    ref = nix_build("ifd.nix", "--no-out-link")
    assert ref.returncode == 0, ref.stderr.decode()
    assert ours.stdout == ref.stdout and ours.stdout.decode().endswith("-use-ifd\n")
    # as in Nix, the import's build is not announced, only done
    assert ours.stderr.decode().startswith(f"building '/nix/store/")
    assert f"gen-{tag}.drv'...\nthis derivation will be built:" in ours.stderr.decode()
    with open(tmp_path / "result") as f:
        assert f.read() == '{ x = "ifd"; }\n\nyes\n'


def test_instantiate_and_read_write_eval_build_imported_outputs(tmp_path, nixlite):
    tag = uuid.uuid4().hex[:8]
    gen = _drv(f"gen-{tag}", "printf x > $out")
    (tmp_path / "i.nix").write_text(f"let gen = {gen}; in " + _drv("t-${builtins.readFile gen}", "true"))
    refused = nixlite("eval", "i.nix", "-A", "name")
    assert refused.returncode == 1 and "use --read-write-mode" in refused.stderr.decode()
    assert nixlite("eval", "--read-write-mode", "i.nix", "-A", "name", check=True).stdout == b'"t-x"\n'
    drv = nixlite("instantiate", "i.nix", check=True).stdout.decode()
    assert drv.endswith("-t-x.drv\n")


def test_two_processes_build_each_derivation_once(tmp_path, store):
    tag = uuid.uuid4().hex[:8]
    count = tmp_path / "count"
    leaf = _drv(f"leaf-{tag}", f"echo leaf >> {count}; sleep 1; echo leaf > $out")
    expr = f"let leaf = {leaf}; in " + _drv(f"top-{tag}", f"echo top >> {count}; cat ${{leaf}} > $out")
    (tmp_path / "c.nix").write_text(expr)
    procs = [subprocess.Popen(nixlite_cmd("build", "--store", store, "c.nix", "--no-out-link"),
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert results[0][0] == results[1][0]
    assert sorted(count.read_text().split()) == ["leaf", "top"]


def test_interrupt_stops_the_builder_and_leaves_the_store_valid(tmp_path, store, nixlite):
    tag = uuid.uuid4().hex[:8]
    pid_file = tmp_path / "pid"
    slow = tmp_path / "slow"
    slow.touch()
    expr = _drv(f"slow-{tag}", f"mkdir $out; touch $out/partial; echo $$ > {pid_file}; "
                f"if [ -e {slow} ]; then sleep 60; fi; touch $out/done")
    (tmp_path / "s.nix").write_text(expr)
    for sig in (signal.SIGINT, signal.SIGTERM):
        pid_file.unlink(missing_ok=True)
        p = subprocess.Popen(nixlite_cmd("build", "--store", store, "s.nix"), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.05)
        builder = int(pid_file.read_text())
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 130 and err.decode().endswith("error: interrupted by the user\n")
        with pytest.raises(ProcessLookupError):
            os.kill(builder, 0)
        leftovers = [n for n in os.listdir(os.path.join(store, "store")) if n.endswith(f"slow-{tag}")]
        assert leftovers == []
        assert not (tmp_path / "result").exists()
        assert nixlite("store", "verify").returncode == 0
    slow.unlink()
    done = nixlite("build", "s.nix", check=True)
    assert os.path.exists(os.path.join(os.readlink(tmp_path / "result"), "done"))
    assert done.stdout.decode().endswith(f"-slow-{tag}\n")


def test_printed_output_path_is_where_the_output_is(tmp_path, store):
    """nix-build's printed path always exists, so ``$(nix-build) | docker load`` and
    ``cat $(nix-build)`` work: nixlite prints where its store really keeps the output
    (the plan lines on stderr keep the /nix/store names), and its store commands take it."""
    (tmp_path / "p.nix").write_text(_drv(f"printed-{uuid.uuid4().hex[:8]}",
                                         "echo '#!/bin/sh' > $out; echo 'echo ran' >> $out; "
                                         "chmod +x $out"))
    env = {**os.environ, "NIXLITE_STORE": store}
    built = subprocess.run(nixlite_cmd("build", "--store", store, "p.nix"), cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True)
    printed = built.stdout.strip()
    logical = LocalStore(store).logical(printed)
    assert printed == os.path.realpath(tmp_path / "result") != logical
    assert logical.startswith("/nix/store/") and "building '/nix/store/" in built.stderr
    assert subprocess.run([printed], capture_output=True, text=True).stdout == "ran\n"
    info = subprocess.run(nixlite_cmd("store", "path-info", printed), env=env, capture_output=True,
                          text=True, check=True)
    assert info.stdout.startswith(logical + "\t")


def test_gc_keeps_what_the_roots_reach(tmp_path, store, nixlite):
    tag = uuid.uuid4().hex[:8]
    leaf = _drv(f"leaf-{tag}", "echo leaf > $out")
    keep = _drv(f"keep-{tag}", "echo ${leaf} > $out")
    drop = _drv(f"drop-{tag}", "echo ${leaf} > $out")
    (tmp_path / "g.nix").write_text(f"let leaf = {leaf}; in {{ keep = {keep}; drop = {drop}; }}")
    keep_out = nixlite("build", "g.nix", "-A", "keep", "-o", "kept", check=True).stdout.decode().strip()
    drop_out = nixlite("build", "g.nix", "-A", "drop", "-o", "dropped", check=True).stdout.decode().strip()
    os.unlink(tmp_path / "dropped")
    dry = nixlite("store", "gc", "--dry-run", check=True).stdout.decode().split()
    assert drop_out in dry and keep_out not in dry
    refused = nixlite("store", "delete", keep_out)
    assert refused.returncode == 1 and refused.stderr.decode() == (
        f"error: Cannot delete path '{keep_out}' since it is still alive. To find out why, use: "
        "nixlite store gc --print-roots\n")
    one = nixlite("store", "gc", "--max", "1", check=True)  # stops once a byte is freed
    assert one.stdout.decode().startswith("1 store paths deleted, ")
    gc = nixlite("store", "gc", check=True)
    assert gc.stdout.decode().startswith(f"{len(dry) - 1} store paths deleted, ")
    left = set(nixlite("store", "requisites", keep_out, check=True).stdout.decode().split())
    assert any(p.endswith(f"leaf-{tag}") for p in left)
    assert nixlite("store", "path-info", drop_out).returncode == 1
    assert nixlite("store", "verify").returncode == 0
    # the deriver of a live output is kept (Nix's keep-derivations), so is its log
    drv = nixlite("store", "path-info", "--json", keep_out, check=True).stdout
    assert b'"deriver"' in drv
    # a result link names its store path, as Nix follows links into the store
    linked = nixlite("store", "path-info", "kept", check=True).stdout
    assert linked == nixlite("store", "path-info", keep_out, check=True).stdout
    assert linked.split(b"\t")[0].decode().endswith(f"-keep-{tag}")
    assert nixlite("store", "log", keep_out).returncode == 0
    # nothing reaches the leaf once the root is gone: delete works, referrers first
    os.unlink(tmp_path / "kept")
    assert nixlite("store", "delete", keep_out, check=True).stdout.startswith(b"1 store paths deleted")


def test_builtin_fetchurl_matches_nix(tmp_path, nixlite, nix_build):
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"fetched " + uuid.uuid4().hex.encode() + b"\n")
    flat = hashlib.sha256(payload.read_bytes()).hexdigest()
    executable, _ = nar_hash_bytes(payload.read_bytes(), executable=True)
    (tmp_path / "f.nix").write_text(
        'let fetch = mode: hash: exe: derivation { name = "payload"; system = "builtin"; '
        f'builder = "builtin:fetchurl"; url = "file://{payload}"; outputHash = hash; '
        'outputHashAlgo = "sha256"; outputHashMode = mode; executable = exe; unpack = false; }; '
        f'in [ (fetch "flat" "{flat}" false) (fetch "recursive" "{executable.sri()}" true) ]')
    ours = nixlite("build", "f.nix", "--no-out-link", check=True)
    ref = nix_build("f.nix", "--no-out-link")
    assert ref.returncode == 0, ref.stderr.decode()
    assert ours.stdout == ref.stdout
    for out in ours.stdout.decode().split():
        nar = subprocess.run(["nix-store", "--dump", out], capture_output=True, check=True).stdout
        assert nixlite("store", "dump", out, check=True).stdout == nar


@pytest.mark.parametrize("variant", ["user-namespace", "new-root"])
def test_namespace_variants(tmp_path, store, nixlite, variant):
    """The set-ups used for ordinary users (a user namespace) and on hosts without the
    logical store directory (a new root), exercised here as root."""
    tag = uuid.uuid4().hex[:8]
    leaf = _drv(f"leaf-{tag}", "echo leaf > $out")
    (tmp_path / "n.nix").write_text(f"let leaf = {leaf}; in " + _drv(
        f"top-{tag}", "cat ${leaf} > $out; id -u >> $out; cat /proc/self/uid_map >> $out"))
    drv = nixlite("instantiate", "n.nix", check=True).stdout.decode().strip()
    local = LocalStore(store)
    realiser = Realiser(local, {})
    from nixlite.build.sandbox import Launcher

    launcher = realiser._launcher = Launcher(local.real_dir, local.store_dir,
                                             os.path.join(local.root, "sandbox-root"))
    if variant == "user-namespace":
        launcher.user_namespace = True
    else:
        launcher.need_new_root = True
    try:
        realiser.realise([(drv, None)])
    finally:
        realiser.close()
    out = local.read_derivation(drv).outputs["out"].path
    lines = open(local.physical(out)).read().splitlines()
    assert lines[0] == "leaf" and lines[1] == str(os.geteuid())
    mapping = lines[2].split()
    assert mapping == (["0", "0", "1"] if variant == "user-namespace"
                       else ["0", "0", "4294967295"])


def test_jobs_run_builds_at_the_same_time(tmp_path, nixlite):
    """Each of two builders waits for the other's mark: only -j 2 can finish them."""
    tag = uuid.uuid4().hex[:8]
    marks = tmp_path / "marks"
    marks.mkdir()

    def waiting(me: str, other: str) -> str:
        return _drv(f"{me}-{tag}", f"touch {marks}/{me}; i=0; while [ ! -e {marks}/{other} ]; do "
                    "i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done; echo ok > $out")

    (tmp_path / "j.nix").write_text(f"[ ({waiting('a', 'b')}) ({waiting('b', 'a')}) ]")
    p = nixlite("build", "j.nix", "-j", "2", "--no-out-link", check=True)
    assert len(p.stdout.split()) == 2


def test_valid_outputs_are_never_rebuilt(tmp_path, nixlite):
    """A derivation with one output still valid builds the other; the valid one stays."""
    tag = uuid.uuid4().hex[:8]
    (tmp_path / "m.nix").write_text(_drv(
        f"multi-{tag}", "head -c 8 /dev/urandom | od -x > $out; head -c 8 /dev/urandom | od -x > $dev",
        'outputs = [ "out" "dev" ];'))
    out, dev = nixlite("build", "m.nix", "-A", "out", "-A", "dev", "--no-out-link",
                       check=True).stdout.decode().split()
    before = nixlite("store", "cat", out, check=True).stdout
    assert nixlite("store", "delete", dev, check=True).returncode == 0
    again = nixlite("build", "m.nix", "-A", "dev", "--no-out-link", check=True)
    assert again.stdout.decode().split() == [dev]
    assert nixlite("store", "cat", out, check=True).stdout == before
    assert nixlite("store", "verify").returncode == 0


def test_native_steps_are_builtin_builders(tmp_path, store, nixlite):
    """builtin:NAME calls the step NAME with a StepContext; its outputs are then scanned and
    registered like a builder's, and a StepFailed is reported like a failing builder."""
    from nixlite.build.native import StepFailed
    from nixlite.build.realise import BuildFailed

    tag = uuid.uuid4().hex[:8]
    leaf = _drv(f"leaf-{tag}", "echo leaf > $out")
    (tmp_path / "n.nix").write_text(
        f'let leaf = {leaf}; mk = name: derivation {{ name = "${{name}}-{tag}"; system = "builtin"; '
        'builder = "builtin:${name}"; inherit leaf; passAsFile = [ "leaf" ]; }; '
        'in { good = mk "copy"; bad = mk "refuse"; }')
    seen = {}

    def copy(ctx):
        seen["ctx"] = ctx
        leaf_path = open(ctx.env["leafPath"]).read()  # passAsFile, as for a process builder
        seen["leaf"] = leaf_path
        with open(ctx.outputs["out"], "w") as f:
            f.write(open(ctx.store.physical(leaf_path)).read() + leaf_path + "\n")
        ctx.log.write("copied\n")

    def refuse(ctx):
        raise StepFailed("no, thanks")

    local = LocalStore(store)
    realiser = Realiser(local, {"copy": copy, "refuse": refuse})
    good = nixlite("instantiate", "n.nix", "-A", "good", check=True).stdout.decode().strip()
    realiser.realise([(good, None)])
    ctx = seen["ctx"]
    out = local.read_derivation(good).outputs["out"].path
    assert ctx.output_paths == {"out": out} and ctx.drv_path == good and ctx.attrs is None
    assert "leaf" not in ctx.env and os.path.basename(ctx.build_dir).startswith("nix-build-")
    assert local.references(out) == {seen["leaf"]}
    assert local.read_log(good) == b"copied\n"
    bad = nixlite("instantiate", "n.nix", "-A", "bad", check=True).stdout.decode().strip()
    with pytest.raises(BuildFailed) as exc:
        realiser.realise([(bad, None)])
    assert exc.value.status == 100 and exc.value.message == (
        f"builder for '{bad}' failed with exit code 1;\nlast 1 log lines:\n> error: no, thanks\n"
        f"For full logs, run 'nixlite store log {bad}'.")


def test_builtin_fetchurl_unpacks_a_nar_as_nix(tmp_path, nixlite, nix_build):
    """``unpack = true`` restores the downloaded NAR as the output; like Nix's
    ``restorePath``, bytes after the archive are left unread."""
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_bytes(b"unpacked " + uuid.uuid4().hex.encode() + b"\n")
    os.symlink("sub/file", tree / "link")
    nar = subprocess.run(["nix-store", "--dump", str(tree)], capture_output=True, check=True).stdout
    (tmp_path / "tree.nar").write_bytes(nar + b"trailing bytes")
    (tmp_path / "u.nix").write_text(
        'derivation { name = "tree"; system = "builtin"; builder = "builtin:fetchurl"; '
        f'url = "file://{tmp_path / "tree.nar"}"; unpack = true; outputHashMode = "recursive"; '
        f'outputHashAlgo = "sha256"; outputHash = "{hashlib.sha256(nar).hexdigest()}"; }}')
    ours = nixlite("build", "u.nix", "--no-out-link", check=True)
    ref = nix_build("u.nix", "--no-out-link")
    assert ref.returncode == 0, ref.stderr.decode()
    assert ours.stdout == ref.stdout
    out = ours.stdout.decode().strip()
    assert nixlite("store", "dump", out, check=True).stdout == nar


@pytest.mark.parametrize("tool", ["nixlite", "nix-build"])
def test_result_link_never_replaces_what_the_user_has_there(tmp_path, nixlite, nix_build, tool):
    """As Nix's ``addPermRoot``: a file, a directory or a link out of the store where the
    result link goes is refused (the file kept), a missing directory is made, and an
    earlier result link is replaced; ``--add-root`` the same."""
    (tmp_path / "r.nix").write_text(_drv(f"root-{uuid.uuid4().hex[:8]}", "echo hi > $out"))
    run = nixlite if tool == "nixlite" else nix_build
    (tmp_path / "file").write_text("precious\n")
    (tmp_path / "dir").mkdir()
    os.symlink("/etc/hostname", tmp_path / "outside")
    for name in ("file", "dir", "outside"):
        refused = run("r.nix", "-o", name) if tool == "nix-build" else run("build", "r.nix", "-o", name)
        assert refused.returncode == 1
        assert refused.stderr.decode().endswith(
            f"error: cannot create symlink '{tmp_path / name}'; already exists\n")
    assert (tmp_path / "file").read_text() == "precious\n" and (tmp_path / "dir").is_dir()
    assert os.readlink(tmp_path / "outside") == "/etc/hostname"
    for _ in range(2):  # made with its directories, then replaced
        made = run("r.nix", "-o", "a/b/link") if tool == "nix-build" else run("build", "r.nix", "-o", "a/b/link")
        assert made.returncode == 0, made.stderr.decode()
        assert (tmp_path / "a/b/link").read_text() == "hi\n"
    if tool == "nixlite":
        added = nixlite("instantiate", "r.nix", "--add-root", "file")
        assert added.returncode == 1 and added.stderr.decode() == \
            f"error: cannot create symlink '{tmp_path / 'file'}'; already exists\n"
        assert (tmp_path / "file").read_text() == "precious\n"

"""nixlite's package set behind <nixpkgs>: the same drvPaths as the reference Nix gives
for it, builds (nix-build, and nixlite build with the same out paths and NAR bytes) whose
outputs do what they say, host packages that run in an empty root, fetchers on file://
URLs, and the errors for what the set lacks."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

RECIPE = r'''
with import <nixpkgs> {};
rec {
  chainA = runCommand "chain-a" {} "echo a > $out";
  chainB = runCommand "chain-b" { inherit chainA; } "cat $chainA > $out; echo b >> $out";
  local = runCommandLocal "local" {} "echo local > $out";
  hello = writeShellScriptBin "hello" "echo hello from nixlite";
  text = writeText "note" "some text\n";
  dir = writeTextDir "share/doc/readme" "read me";
  script = writeScript "script" "#!/bin/sh\necho script";
  shellScript = writeShellScript "shell-script" "echo shell";
  app = writeShellApplication { name = "app"; runtimeInputs = [ jq ]; text = "echo '{\"a\":1}' | jq -c .a"; };
  joined = symlinkJoin { name = "joined"; paths = [ hello dir ]; };
  env = buildEnv { name = "env"; paths = [ hello app ]; pathsToLink = [ "/bin" ]; };
  farm = linkFarm "farm" { "x/a" = chainA; b = chainB; };
  closure = closureInfo { rootPaths = [ hello ]; };
  refs = writeClosure [ hello ];
  popular = referencesByPopularity [ app env ];
  subst = substituteAll { src = ./template.in; who = "world"; };
  replaced = replaceVars ./vars.in { who = "vars"; };
  wrapped = runCommand "wrapped" { nativeBuildInputs = [ makeWrapper ]; }
    "makeWrapper ${hello}/bin/hello $out/bin/wrapped --set GREETING hi";
  tarball = stdenv.mkDerivation (finalAttrs: {
    pname = "tarball";
    version = "1.0";
    src = ./tarball-1.0.tar.gz;
    postInstall = "echo ${finalAttrs.version} > $out/share/version";
  });
  tarball2 = tarball.overrideAttrs (prev: { version = "2.0"; });
  inherit bash;
}
'''
ATTRS = ["chainA", "chainB", "local", "hello", "text", "dir", "script", "shellScript", "app",
         "joined", "env", "farm", "closure", "refs", "popular", "subst", "replaced", "wrapped", "tarball",
         "tarball2", "bash"]


def _make_tarball(dest: Path) -> None:
    """tarball-1.0.tar.gz: a ./configure that writes the prefix, a Makefile that builds
    and installs one file."""
    src = dest / "tarball-1.0"
    src.mkdir()
    (src / "configure").write_text('#!/bin/sh\necho "PREFIX=${1#--prefix=}" > config.mk\n')
    (src / "configure").chmod(0o755)
    (src / "Makefile").write_text(
        "include config.mk\nall:\n\techo built > built.txt\n"
        "install:\n\tmkdir -p $(PREFIX)/share\n\tcp built.txt $(PREFIX)/share/\n")
    with tarfile.open(dest / "tarball-1.0.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="tarball-1.0")
    shutil.rmtree(src)


@pytest.fixture
def recipe(tmp_path) -> Path:
    _make_tarball(tmp_path)
    (tmp_path / "template.in").write_text("hello @who@\n")
    (tmp_path / "vars.in").write_text("hello @who@\n")
    path = tmp_path / "default.nix"
    path.write_text(RECIPE)
    return path


def _instantiate_args(recipe):
    return [str(recipe)] + [a for attr in ATTRS for a in ("-A", attr)]


def test_drv_paths_equal_the_reference_nix(recipe, nix, nixlite, pkgs_dir):
    ours = nixlite(["instantiate", *_instantiate_args(recipe)])
    assert ours.returncode == 0, ours.stderr
    theirs = nix(["nix-instantiate", "-I", f"nixpkgs={pkgs_dir}", *_instantiate_args(recipe)])
    assert theirs.returncode == 0, theirs.stderr
    assert ours.stdout == theirs.stdout
    assert len(ours.stdout.split()) == len(ATTRS)


@pytest.fixture
def built(recipe, nix, pkgs_dir) -> dict[str, Path]:
    """The recipe built by nix-build: attribute name → output path."""
    proc = nix(["nix-build", "--no-out-link", "-I", f"nixpkgs={pkgs_dir}", *_instantiate_args(recipe)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    outs = proc.stdout.split()
    assert len(outs) == len(ATTRS)
    return {attr: Path(out) for attr, out in zip(ATTRS, outs)}


def _run(argv, **kw) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, **kw).stdout


@pytest.mark.slow
def test_built_outputs(built, nix):
    b = built
    assert b["chainB"].read_text() == "a\nb\n"
    assert b["local"].read_text() == "local\n"
    assert _run([b["hello"] / "bin" / "hello"]) == "hello from nixlite\n"
    assert (b["hello"] / "bin" / "hello").read_text().startswith(f"#!{b['bash']}/bin/bash\n")
    assert b["text"].read_text() == "some text\n"
    assert (b["dir"] / "share/doc/readme").read_text() == "read me"
    assert _run([b["script"]]) == "script\n"
    assert _run([b["shellScript"]]) == "shell\n"
    assert _run([b["app"] / "bin" / "app"]) == "1\n"
    # symlinkJoin/buildEnv: trees of symlinks into their inputs
    assert (b["joined"] / "bin/hello").resolve() == (b["hello"] / "bin/hello").resolve()
    assert (b["joined"] / "share/doc/readme").read_text() == "read me"
    assert sorted(p.name for p in (b["env"] / "bin").iterdir()) == ["app", "hello"]
    assert (b["env"] / "bin/app").is_symlink()
    assert (b["farm"] / "x/a").read_text() == "a\n"
    assert Path((b["farm"] / "b").readlink()) == b["chainB"]
    # closureInfo/writeClosure: the closure as nix-store -qR lists it
    closure = sorted(nix(["nix-store", "-qR", str(b["hello"])]).stdout.split())
    assert sorted((b["closure"] / "store-paths").read_text().split()) == closure
    assert b["refs"].read_text().split() == closure
    assert closure == sorted([str(b["hello"]), str(b["bash"])])
    # referencesByPopularity: the order nixlite's image layering computes from the graph
    from nixlite.image.layering import references_by_popularity

    roots = [str(b["app"]), str(b["env"])]
    graph = [{"path": p, "references": nix(["nix-store", "-q", "--references", p]).stdout.split()}
             for p in nix(["nix-store", "-qR", *roots]).stdout.split()]
    assert b["popular"].read_text().split() == references_by_popularity(graph)
    assert len(graph) > 4
    registration = (b["closure"] / "registration").read_text().split("\n")
    assert registration[0] == closure[0] and registration[1].startswith("sha256:")
    total = int((b["closure"] / "total-nar-size").read_text())
    assert total == sum(int(nix(["nix-store", "-q", "--size", p]).stdout) for p in closure)
    assert b["subst"].read_text() == "hello world\n"
    assert b["replaced"].read_text() == "hello vars\n"
    assert _run([b["wrapped"] / "bin/wrapped"]) == "hello from nixlite\n"
    assert "export GREETING=hi" in (b["wrapped"] / "bin/wrapped").read_text()
    # mkDerivation: configure, make, make install from the tarball; overrideAttrs re-runs
    # the fixed point (finalAttrs.version)
    assert (b["tarball"] / "share/built.txt").read_text() == "built\n"
    assert (b["tarball"] / "share/version").read_text() == "1.0\n"
    assert (b["tarball2"] / "share/version").read_text() == "2.0\n"
    assert b["tarball2"].name.endswith("-tarball-2.0")


@pytest.mark.slow
def test_host_packages_run_in_an_empty_root(tmp_path, nix, pkgs_dir):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    expr = "with import <nixpkgs> {}; [ bash bashInteractive jq coreutils busybox ]"
    proc = nix(["nix-build", "--no-out-link", "-I", f"nixpkgs={pkgs_dir}", "-E", expr])
    assert proc.returncode == 0, proc.stderr[-3000:]
    bash, bash_interactive, jq, coreutils, busybox = proc.stdout.split()
    root = tmp_path / "root"
    for out in proc.stdout.split():
        for path in nix(["nix-store", "-qR", out]).stdout.split():
            dest = root / path.lstrip("/")
            if not dest.exists():
                shutil.copytree(path, dest, symlinks=True)
    assert sorted(p.name for p in root.iterdir()) == ["nix"]

    def inside(*argv, stdin=None):
        probe = subprocess.run(["unshare", "-r", "--root", str(root), *argv], capture_output=True,
                               text=True, input=stdin)
        if probe.returncode != 0 and "unshare failed" in probe.stderr:
            pytest.skip(f"this kernel does not allow user namespaces: {probe.stderr.strip()}")
        assert probe.returncode == 0, probe.stderr
        return probe.stdout

    assert inside(f"{bash}/bin/bash", "-c", "echo ok") == "ok\n"
    assert inside(f"{bash_interactive}/bin/bash", "-c", "echo ok") == "ok\n"
    assert inside(f"{jq}/bin/jq", "-c", ".a", stdin='{"a":[1]}') == "[1]\n"
    assert inside(f"{coreutils}/bin/ls", "/nix/store") != ""
    assert inside(f"{busybox}/bin/sh", "-c", "echo ok") == "ok\n"


def test_host_package_names_carry_the_debian_version(nixlite):
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian host")
    proc = nixlite(["eval", "-E", "(import <nixpkgs> {}).bash.name"])
    assert proc.returncode == 0, proc.stderr
    version = _run(["dpkg-query", "-W", "-f=${Version}", "bash-static"]).split("-")[0]
    assert proc.stdout == f'"bash-{version}"\n'


def test_missing_host_package_names_the_debian_package(nixlite):
    expr = ('(import <nixpkgs> {}).hostPackage { pname = "nothere"; '
            'from = [ { deb = "nixlite-no-such-package"; } ]; }')
    proc = nixlite(["eval", "-E", f"({expr}).name"])
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "error: nixlite's host package 'nothere' takes its files from the host, but the Debian "
        "package 'nixlite-no-such-package' is not installed (apt-get install nixlite-no-such-package)")


def test_missing_attribute_points_at_a_real_nixpkgs(nixlite):
    proc = nixlite(["eval", "-E", "(import <nixpkgs> {}).firefox"])
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: nixlite's package set has no attribute 'firefox'\n")
    assert "point -I nixpkgs=DIR at a nixpkgs checkout" in proc.stderr
    proc = nixlite(["instantiate", "-E", "import <nixpkgs> {}", "-A", "firefox"])
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: nixlite's package set has no attribute 'firefox'\n")


def test_a_nixpkgs_on_the_search_path_wins(tmp_path, nixlite):
    other = tmp_path / "other"
    (other / "lib").mkdir(parents=True)
    (other / "default.nix").write_text("{ ... }: { mine = true; }")
    (other / "lib" / "default.nix").write_text("{ mine = true; }")
    for expr in ["(import <nixpkgs> {}).mine", "(import <nixpkgs/lib>).mine"]:
        proc = nixlite(["eval", "-I", f"nixpkgs={other}", "-E", expr])
        assert (proc.returncode, proc.stdout) == (0, "true\n"), proc.stderr
    # an entry for nixpkgs that lacks the file is an error, not nixlite's set
    proc = nixlite(["eval", "-I", f"nixpkgs={other}", "-E", "<nixpkgs/pkgs>"])
    assert proc.returncode == 1
    assert "file 'nixpkgs/pkgs' was not found in the Nix search path" in proc.stderr


def test_overlays_and_callpackage(tmp_path, nixlite):
    (tmp_path / "pkg.nix").write_text(
        '{ runCommand, greeting ? "hi" }: runCommand "pkg" { inherit greeting; } "echo $greeting > $out"')
    expr = ('let pkgs = import <nixpkgs> { overlays = [ (final: prev: { pkg = final.callPackage ./pkg.nix {}; }) '
            '(final: prev: { pkg2 = prev.pkg.override { greeting = "yo"; }; }) ]; }; '
            'in [ pkgs.pkg.greeting pkgs.pkg2.greeting pkgs.stdenv.hostPlatform.isLinux pkgs.system ]')
    proc = nixlite(["eval", "--strict", "--json", "-E", expr], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    system = nixlite(["eval", "-E", "builtins.currentSystem"]).stdout.strip()
    assert proc.stdout == f'["hi","yo",true,{system}]\n'

def _nar(argv) -> bytes:
    return subprocess.run(argv, capture_output=True, check=True).stdout


@pytest.mark.slow
def test_nixlite_build_outputs_equal_nix_build(recipe, built, nix, nixlite, tmp_path):
    proc = nixlite(["build", "--no-out-link", *_instantiate_args(recipe)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = proc.stdout.split()
    assert ours == [str(built[attr]) for attr in ATTRS]
    store = tmp_path / "nixlite-store"
    differing = [
        path for path in ours
        if _nar(["nix-store", "--dump", path])
        != _nar([sys.executable, "-m", "nixlite", "store", "--store", str(store), "dump", path])
    ]
    assert differing == []
    # built already: nothing is built again
    again = nixlite(["build", "--no-out-link", *_instantiate_args(recipe)])
    assert (again.returncode, again.stdout, "building" in again.stderr) == (0, proc.stdout, False)


def _sri(data: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.mark.slow
def test_fetchurl_and_fetchzip_from_file_urls(recipe, nix, nixlite, tmp_path):
    tarball = tmp_path / "tarball-1.0.tar.gz"
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "xf", str(tarball), "-C", str(unpacked)], check=True)
    tree_hash = nix(["nix-hash", "--type", "sha256", "--base32", str(unpacked / "tarball-1.0")])
    assert tree_hash.returncode == 0, tree_hash.stderr
    expr = (f'with import <nixpkgs> {{}}; [ (fetchurl {{ url = "file://{tarball}"; hash = "{_sri(tarball.read_bytes())}"; }}) '
            f'(fetchzip {{ url = "file://{tarball}"; sha256 = "{tree_hash.stdout.strip()}"; }}) ]')
    proc = nixlite(["build", "--no-out-link", "-E", expr])
    assert proc.returncode == 0, proc.stderr[-3000:]
    file_out, zip_out = (Path(p) for p in proc.stdout.split())
    store = tmp_path / "nixlite-store" / "store"
    assert (store / file_out.name).read_bytes() == tarball.read_bytes()
    assert (store / zip_out.name / "Makefile").read_text().startswith("include config.mk")
    # a wrong hash: the build fails and says which hash it got
    bad = expr.replace(_sri(tarball.read_bytes()), "sha256-" + "A" * 43 + "=")
    failed = nixlite(["build", "--no-out-link", "-E", bad])
    assert failed.returncode != 0
    assert "hash mismatch in fixed-output derivation" in failed.stderr
    assert _sri(tarball.read_bytes()) in failed.stderr


@pytest.mark.slow
def test_host_bash_built_by_nixlite_runs_in_an_empty_root(nixlite, tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    proc = nixlite(["build", "--no-out-link", "-E", "with import <nixpkgs> {}; [ bash bashInteractive ]"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    outs = proc.stdout.split()
    closure = nixlite(["store", "requisites", *outs])
    assert closure.returncode == 0, closure.stderr
    # each is self-contained: its closure is itself
    assert sorted(closure.stdout.split()) == sorted(outs)
    root = tmp_path / "root"
    for path in outs:
        shutil.copytree(tmp_path / "nixlite-store" / "store" / Path(path).name,
                        root / path.lstrip("/"), symlinks=True)
    for out in outs:
        run = subprocess.run(["unshare", "-r", "--root", str(root), f"{out}/bin/bash", "-c", "echo ok"],
                             capture_output=True, text=True)
        if run.returncode != 0 and "unshare failed" in run.stderr:
            pytest.skip(f"this kernel does not allow user namespaces: {run.stderr.strip()}")
        assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr

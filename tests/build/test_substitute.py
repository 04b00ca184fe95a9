"""Substitution in ``nixlite build`` and in import-from-derivation, against caches the
reference Nix 2.8 writes (``nix copy --to file://…``, signed) served over loopback HTTP.

Nix builds the recipe below once, while a flag file exists; the flag is then removed, so
every builder that tests it fails from then on: an output that still appears was fetched,
not built."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from nixlite.store.local import LocalStore

from .conftest import logical_paths, nixlite_cmd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "store"))
from cache_server import CacheServer  # noqa: E402

pytestmark = [
    pytest.mark.nix,
    pytest.mark.skipif(shutil.which("nix") is None or shutil.which("nix-build") is None,
                       reason="needs the reference Nix 2.8 (nix, nix-build)"),
]

NIX_ENV = {**os.environ, "NIX_PATH": ""}

RECIPE = r"""
let
  flag = "@FLAG@";
  mk = name: script: derivation {
    inherit name; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" script ];
  };
in rec {
  # only Nix, while the flag exists, can build these two
  lib = mk "subst-lib" "[ -e ${flag} ] || exit 1; echo library > $out";
  app = mk "subst-app" "[ -e ${flag} ] || exit 1; echo ${lib} > $out";
  # anyone can build these
  tool = mk "subst-tool" "/bin/cat ${lib} > $out";
  plain = mk "subst-plain" "echo plain ${flag} > $out";
}
"""


def run(*argv, env=NIX_ENV) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stderr}"
    return proc


def nix(*argv) -> subprocess.CompletedProcess:
    return run("nix", "--experimental-features", "nix-command", "--option", "substituters", "", *argv)


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    """The recipe built by Nix, a key pair, and signed caches: ``full`` (app's closure and
    plain), ``lib`` (lib alone)."""
    d = tmp_path_factory.mktemp("subst")
    flag = d / "flag"
    flag.write_text("")
    recipe = d / "recipe.nix"
    recipe.write_text(RECIPE.replace("@FLAG@", str(flag)))
    outs = {}
    for attr in ("lib", "app", "tool", "plain"):
        outs[attr] = run("nix-build", "--option", "substituters", "", "--no-out-link",
                         str(recipe), "-A", attr).stdout.strip()
    flag.unlink()
    sk, pk = d / "sk", d / "pk"
    run("nix-store", "--generate-binary-cache-key", "subst-test-1", str(sk), str(pk))
    wrong_sk, wrong_pk = d / "wrong-sk", d / "wrong-pk"
    run("nix-store", "--generate-binary-cache-key", "subst-test-1", str(wrong_sk), str(wrong_pk))
    full, lib = d / "full", d / "lib"
    nix("copy", "--to", f"file://{full}?secret-key={sk}", outs["app"], outs["plain"])
    nix("copy", "--to", f"file://{lib}?secret-key={sk}", outs["lib"])
    return {"recipe": str(recipe), "outs": outs, "pk": pk.read_text(), "wrong_pk": wrong_pk.read_text(),
            "full": str(full), "lib": str(lib), "dir": d}


@pytest.fixture
def nixlite_env(tmp_path):
    """nixlite reads no nix.conf but the settings a test gives it in ``$NIX_CONFIG``."""
    conf = tmp_path / "conf"
    conf.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NIX_CONFIG", "NIX_USER_CONF_FILES", "XDG_CONFIG_DIRS")}
    return {**env, "NIX_CONF_DIR": str(conf), "XDG_CONFIG_HOME": str(conf / "user"), "NIX_PATH": "",
            "NIXLITE_STORE": str(tmp_path / "store")}


def nixlite(env, *argv, config: str = "") -> subprocess.CompletedProcess:
    p = subprocess.run(nixlite_cmd(*argv), capture_output=True, text=True, timeout=300,
                       env={**env, "NIX_CONFIG": config})
    p.stdout = logical_paths(p.stdout, env["NIXLITE_STORE"])
    return p


def cache_config(url: str, pk: str) -> str:
    return f"substituters = {url}\ntrusted-public-keys = {pk}\n"


def read_out(env, path: str) -> str:
    return open(LocalStore(env["NIXLITE_STORE"]).physical(path)).read()


def test_cached_recipe_is_substituted_not_built(caches, nixlite_env, tmp_path):
    """The same plan and lines as nix-build on an empty chroot store (downloads finish in
    any order)."""
    outs = caches["outs"]
    with CacheServer(caches["full"]) as server:
        p = nixlite(nixlite_env, "build", "--no-out-link", caches["recipe"], "-A", "app",
                    config=cache_config(server.url, caches["pk"]))
        theirs = run("nix-build", "--no-out-link", "--store", str(tmp_path / "nixroot"),
                     "--option", "substituters", server.url, "--option", "trusted-public-keys",
                     caches["pk"], caches["recipe"], "-A", "app")
    assert p.returncode == 0, p.stderr
    assert p.stdout == theirs.stdout == outs["app"] + "\n"
    mine_lines, their_lines = p.stderr.splitlines(), theirs.stderr.splitlines()
    assert mine_lines[:3] == their_lines[:3]
    assert sorted(mine_lines[3:]) == sorted(their_lines[3:])
    lines = p.stderr.splitlines()
    assert lines[0].startswith("these 2 paths will be fetched (") and lines[0].endswith(" MiB unpacked):")
    assert lines[1:3] == sorted(f"  {outs[a]}" for a in ("lib", "app"))
    assert sorted(lines[3:]) == sorted(f"copying path '{outs[a]}' from '{server.url}'..." for a in ("lib", "app"))
    assert read_out(nixlite_env, outs["app"]) == outs["lib"] + "\n"
    assert read_out(nixlite_env, outs["lib"]) == "library\n"


def test_partly_cached_closure_builds_only_the_rest(caches, nixlite_env):
    outs = caches["outs"]
    with CacheServer(caches["lib"]) as server:
        p = nixlite(nixlite_env, "build", "--no-out-link", caches["recipe"], "-A", "tool",
                    config=cache_config(server.url, caches["pk"]))
    assert p.returncode == 0, p.stderr
    drv = run("nix-instantiate", caches["recipe"], "-A", "tool").stdout.strip()
    assert p.stderr.splitlines()[:2] == ["this derivation will be built:", f"  {drv}"]
    assert f"copying path '{outs['lib']}' from '{server.url}'...\n" in p.stderr
    assert f"building '{drv}'...\n" in p.stderr
    assert p.stderr.count("building '") == 1
    assert read_out(nixlite_env, outs["tool"]) == "library\n"


@pytest.mark.parametrize("fault", ["bad signature", "dead cache"])
def test_cache_trouble_falls_back_to_building(caches, nixlite_env, fault):
    outs = caches["outs"]
    with CacheServer(caches["full"]) as server:
        url = server.url
        if fault == "bad signature":
            p = nixlite(nixlite_env, "build", "--no-out-link", caches["recipe"], "-A", "plain",
                        config=cache_config(url, caches["wrong_pk"]))
            warning = (f"warning: substituter '{url}' does not have a valid signature for path "
                       f"'{outs['plain']}'\n")
    if fault == "dead cache":  # the server is gone: its port refuses connections
        p = nixlite(nixlite_env, "build", "--no-out-link", caches["recipe"], "-A", "plain",
                    config=cache_config(url, caches["pk"]))
        warning = f"warning: unable to download '{url}/nix-cache-info': "
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith(warning), p.stderr
    assert "this derivation will be built:\n" in p.stderr
    assert "will be fetched" not in p.stderr
    assert read_out(nixlite_env, outs["plain"]) == f"plain {caches['dir'] / 'flag'}\n"


def test_dry_run_prints_what_nix_build_prints(caches, nixlite_env, tmp_path):
    """nix-build --dry-run on an empty chroot store, against the same cache: byte for byte."""
    with CacheServer(caches["full"]) as server:
        config = cache_config(server.url, caches["pk"])
        theirs = run("nix-build", "--dry-run", "--store", str(tmp_path / "nixroot"),
                     "--option", "substituters", server.url,
                     "--option", "trusted-public-keys", caches["pk"],
                     caches["recipe"], "-A", "app", "-A", "tool")
        mine = nixlite(nixlite_env, "build", "--dry-run", caches["recipe"], "-A", "app", "-A", "tool",
                       config=config)
    assert mine.returncode == 0, mine.stderr
    assert "these 2 paths will be fetched" in theirs.stderr
    assert mine.stderr == theirs.stderr
    assert mine.stdout == theirs.stdout


@pytest.mark.parametrize("how", ["flags", "offline", "option"])
def test_substitution_can_be_turned_off(caches, nixlite_env, how):
    flags = {"flags": ["--no-substitute"], "offline": ["--offline"],
             "option": ["--option", "substitute", "false"]}[how]
    with CacheServer(caches["full"]) as server:
        p = nixlite(nixlite_env, "build", "--dry-run", *flags, caches["recipe"], "-A", "app",
                    config=cache_config(server.url, caches["pk"]))
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith("these 2 derivations will be built:\n"), p.stderr
    assert server.requests == []


def test_import_from_derivation_substitutes(caches, nixlite_env):
    outs = caches["outs"]
    expr = f"builtins.readFile (import {caches['recipe']}).app"
    with CacheServer(caches["full"]) as server:
        p = nixlite(nixlite_env, "instantiate", "--eval", "--read-write-mode", "-E", expr, "--substituters", server.url,
                    "--trusted-public-keys", caches["pk"])
    assert p.returncode == 0, p.stderr
    assert p.stdout == f'"{outs["lib"]}\\n"\n'
    assert sorted(p.stderr.splitlines()) == sorted(
        f"copying path '{outs[a]}' from '{server.url}'..." for a in ("lib", "app"))



@pytest.fixture
def corrupt_cache(caches, tmp_path):
    """A signed cache of tool and lib whose narinfo for tool points at garbage."""
    outs = caches["outs"]
    cache = tmp_path / "cache"
    nix("copy", "--to", f"file://{cache}?compression=none&secret-key={caches['dir'] / 'sk'}",
        outs["tool"], outs["lib"])  # tool does not refer to lib: two closures
    # lib's and tool's NARs are the same file: point tool's (signed) narinfo at garbage
    narinfo = cache / (os.path.basename(outs["tool"])[:32] + ".narinfo")
    narinfo.write_text(re.sub(r"(?m)^URL: .*$", "URL: nar/garbage.nar", narinfo.read_text()))
    (cache / "nar" / "garbage.nar").write_bytes(b"not a NAR")
    return str(cache)


def test_failed_fetch_is_an_error_without_fallback(caches, corrupt_cache, nixlite_env, tmp_path):
    """As nix-build (fallback = false): the derivation whose outputs the cache failed to
    deliver is not built, and the last line is Nix's."""
    with CacheServer(corrupt_cache) as server:
        theirs = subprocess.run(["nix-build", "--no-out-link", "--store", str(tmp_path / "nixroot"),
                                 "--option", "substituters", server.url, "--option", "trusted-public-keys",
                                 caches["pk"], caches["recipe"], "-A", "tool"],
                                env=NIX_ENV, capture_output=True, text=True, timeout=300)
        mine = nixlite(nixlite_env, "build", "--no-out-link", caches["recipe"], "-A", "tool",
                       config=cache_config(server.url, caches["pk"]))
    assert mine.returncode == theirs.returncode == 1
    assert mine.stderr.splitlines()[-1] == theirs.stderr.splitlines()[-1]
    assert mine.stderr.splitlines()[:2] == theirs.stderr.splitlines()[:2]  # the plan
    assert "building '" not in mine.stderr


def test_fallback_builds_that_path_and_fetches_its_inputs(caches, corrupt_cache, nixlite_env):
    """With --fallback, tool is built after all, from lib, which the cache still gives (lib's
    builder would fail), though lib was not asked for while tool seemed cached."""
    outs = caches["outs"]
    with CacheServer(corrupt_cache) as server:
        p = nixlite(nixlite_env, "build", "--fallback", "--no-out-link", caches["recipe"], "-A", "tool",
                    config=cache_config(server.url, caches["pk"]))
    assert p.returncode == 0, p.stderr
    assert "warning: " in p.stderr
    assert p.stderr.count("building '") == 1
    assert f"copying path '{outs['lib']}' from '{server.url}'...\n" in p.stderr
    assert read_out(nixlite_env, outs["tool"]) == "library\n"

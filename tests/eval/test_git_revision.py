"""``--rev REV``: recipes read from a git revision with pygit2, on real repositories made
here (two branches, a rename, an import from a subdirectory, an executable, symlinks, a
submodule, a dirty working tree and index).  A revision must evaluate exactly as a
checkout of it does: the oracles are nixlite's own local I/O and Nix 2.8 on a checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from nixlite.cli import main

HAVE_NIX = shutil.which("nix-instantiate") is not None
SIG = pygit2.Signature("nixlite tests", "tests@nixlite.invalid", 1700000000, 0)
REGULAR, EXECUTABLE, LINK = pygit2.GIT_FILEMODE_BLOB, pygit2.GIT_FILEMODE_BLOB_EXECUTABLE, pygit2.GIT_FILEMODE_LINK

RECIPE = """\
{ greeting ? "hello" }:
let text = import ./lib/strings.nix; in
{
  message = text.shout greeting;
  words = builtins.readFile ./lib/words.txt;
  linked = (import ./lib/link.nix).shout "linked";
  drv = derivation {
    name = "rev-demo";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "read -r line < $src/words.txt; echo \\"$line\\" > $out" ];
    src = ./lib;
    tool = builtins.path { path = ./lib/run.sh; recursive = false; };
    plain = builtins.filterSource (p: t: t != "symlink") ./lib;
    whole = ./.;
    message = text.shout greeting;
  };
}
"""

# What every test evaluates (-E, from the work tree or a checkout): each way a path of
# the revision reaches evaluation, none of them spelling the absolute path.
PROBE = """\
with builtins;
let d = ./.; in {
  top = readDir d;
  lib = readDir (d + "/lib");
  submodule = readDir (d + "/vendor/sub");
  whole = "${d}";
  lib_src = "${d + "/lib"}";
  flat = path { path = d + "/lib/run.sh"; recursive = false; };
  filtered = filterSource (p: t: t != "symlink" && baseNameOf p != "words.txt") (d + "/lib");
  named = path { path = d + "/lib"; name = "renamed"; filter = p: t: t == "regular"; };
  link_hash = hashFile "sha256" (d + "/lib/link.nix");
  exists = [ (pathExists (d + "/lib/link.nix")) (pathExists (d + "/nope")) (pathExists (d + "/lib/")) ];
  imported = (import (d + "/lib/link.nix")).shout "x";
}
"""

MAIN_1 = {
    "default.nix": RECIPE,
    "lib/strings.nix": '{ shout = s: s + "!"; }\n',
    "lib/words.txt": "first words\n",
    "lib/run.sh": ("#!/bin/sh\necho run\n", EXECUTABLE),
    "lib/link.nix": ("strings.nix", LINK),
}
MAIN_2 = {**MAIN_1, "lib/words.txt": "second words\n"}
FEATURE = {
    **{k: v for k, v in MAIN_2.items() if k != "lib/strings.nix"},
    "default.nix": RECIPE.replace("./lib/strings.nix", "./lib/text.nix"),
    "lib/text.nix": '{ shout = s: s + "!!"; }\n',  # renamed from strings.nix, and changed
    "lib/link.nix": ("text.nix", LINK),
    "lib/bad.nix": 'let\n  x = 1;\nin\n  x + "a"\n',
}


def _tree(repo, files: dict, submodule) -> pygit2.Oid:
    """A tree of ``files`` (path → text, or (text, git mode)) and a submodule at vendor/sub."""
    root: dict = {"vendor": {"sub": (submodule, pygit2.GIT_FILEMODE_COMMIT)}}
    for path, spec in files.items():
        text, mode = spec if isinstance(spec, tuple) else (spec, REGULAR)
        *dirs, name = path.split("/")
        node = root
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = (repo.create_blob(text.encode()), mode)

    def write(node: dict) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        for name, entry in node.items():
            if isinstance(entry, dict):
                builder.insert(name, write(entry), pygit2.GIT_FILEMODE_TREE)
            else:
                builder.insert(name, *entry)
        return builder.write()

    return write(root)


def _commit(repo, ref: str, files: dict, parents: list, message: str) -> pygit2.Oid:
    tree = _tree(repo, files, pygit2.Oid(hex="1" * 40))
    return repo.create_commit(ref, SIG, SIG, message, tree, parents)


@pytest.fixture(scope="module")
def repo_dir(tmp_path_factory) -> Path:
    """A repository in ``…/recipe``: main (two commits, the first tagged v1), feature
    (from main, renames lib/strings.nix), branch links (symlinks of every kind), and a
    working tree on main with unstaged, staged and untracked changes."""
    base = tmp_path_factory.mktemp("git")
    work = base / "recipe"
    outside = base / "outside.nix"
    outside.write_text('"read from outside the repository"\n')
    repo = pygit2.init_repository(str(work), initial_head="main")
    first = _commit(repo, "refs/heads/main", MAIN_1, [], "first")
    repo.create_tag("v1", first, pygit2.GIT_OBJECT_COMMIT, SIG, "v1")
    second = _commit(repo, "refs/heads/main", MAIN_2, [first], "second")
    _commit(repo, "refs/heads/feature", FEATURE, [second], "rename strings.nix to text.nix")
    _commit(repo, "refs/heads/links", {
        **MAIN_2,
        "loop": ("loop", LINK),
        "out.nix": (str(outside), LINK),
        "dirlink": ("lib", LINK),
        "back.nix": ("../recipe/lib/strings.nix", LINK),
        "lib/up.nix": ("../dirlink/../lib/strings.nix", LINK),
        "abs.nix": (str(work / "lib" / "strings.nix"), LINK),
    }, [second], "links")
    repo.checkout("refs/heads/main", strategy=pygit2.enums.CheckoutStrategy.FORCE)
    # the dirty state every --rev evaluation must ignore (and leave as it is)
    (work / "lib" / "words.txt").write_text("staged words\n")
    repo.index.add("lib/words.txt")
    repo.index.write()
    (work / "default.nix").write_text('throw "the working tree was read"\n')
    (work / "lib" / "strings.nix").write_text('{ shout = s: "unstaged"; }\n')
    (work / "lib" / "new.nix").write_text('"untracked"\n')
    return work


def _checkout(repo_dir: Path, rev: str, base: Path) -> Path:
    """The revision checked out (no .git) at ``base/rev/recipe``: the same base name as the
    work tree, so copies of ``./.`` are named alike.  The submodule is an empty
    directory, as in a clone without --recurse-submodules."""
    dest = base / rev.replace("/", "_").replace("~", "_") / repo_dir.name
    if not dest.exists():
        dest.parent.mkdir()
        repo = pygit2.Repository(str(repo_dir))
        strategy = pygit2.enums.CheckoutStrategy
        repo.checkout_tree(repo.revparse_single(rev).peel(pygit2.Tree), directory=str(dest),
                           strategy=strategy.FORCE | strategy.DONT_UPDATE_INDEX)
        (dest / "vendor" / "sub").mkdir(parents=True, exist_ok=True)
    return dest


@pytest.fixture
def nixlite(tmp_path, monkeypatch, capsys):
    """``nixlite(*argv, cwd=DIR)`` → (status, stdout, stderr), in-process, private store."""
    monkeypatch.setenv("NIXLITE_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("NIX_PATH", "")

    def run(*argv: str, cwd: Path) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def _snapshot(work: Path) -> dict:
    """Every file of the working tree and of .git: bytes, mode and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(work):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            data = os.readlink(p) if os.path.islink(p) else (
                None if os.path.isdir(p) else Path(p).read_bytes())
            out[os.path.relpath(p, work)] = (data, st.st_mode, st.st_mtime_ns)
    return out


# ---------------------------------------------------------------- evaluation


@pytest.mark.parametrize(("rev", "message", "words"), [
    ("main", "hello!", "second words\n"),
    ("HEAD", "hello!", "second words\n"),
    ("HEAD~1", "hello!", "first words\n"),
    ("v1", "hello!", "first words\n"),
    ("feature", "hello!!", "second words\n"),
    ("feature^", "hello!", "second words\n"),
])
def test_eval_reads_the_revision(repo_dir, nixlite, rev, message, words):
    status, out, err = nixlite("eval", "--strict", "--json", "--rev", rev, "default.nix",
                               "-A", "message", "-A", "words", "-A", "linked", cwd=repo_dir)
    assert (status, err) == (0, "")
    linked = "linked" + message[len("hello"):]
    assert out.splitlines() == [json.dumps(message), json.dumps(words), json.dumps(linked)]


def test_eval_takes_any_revision_spelling(repo_dir, nixlite):
    repo = pygit2.Repository(str(repo_dir))
    sha = str(repo.revparse_single("v1").peel(pygit2.Commit).id)
    for rev in (sha, sha[:7], "v1^{tree}", "main~1"):
        assert nixlite("eval", "--rev", rev, "default.nix", "-A", "words", cwd=repo_dir) == \
            (0, '"first words\\n"\n', ""), rev


def test_working_tree_is_what_plain_eval_reads(repo_dir, nixlite):
    """The dirty state is real: without --rev it is what evaluation sees."""
    status, _, err = nixlite("eval", "default.nix", "-A", "message", cwd=repo_dir)
    assert status == 1 and "the working tree was read" in err


def test_revision_matches_a_checkout(repo_dir, nixlite, tmp_path):
    for rev in ("main", "v1", "feature"):
        checkout = _checkout(repo_dir, rev, tmp_path)
        ours = nixlite("eval", "--strict", "--json", "--rev", rev, "-E", PROBE, cwd=repo_dir)
        local = nixlite("eval", "--strict", "--json", "-E", PROBE, cwd=checkout)
        assert ours == local and ours[0] == 0, rev
        value = json.loads(ours[1])
        assert value["submodule"] == {} and value["top"]["vendor"] == "directory"
        assert ".git" not in value["top"]


@pytest.mark.nix
@pytest.mark.skipif(not HAVE_NIX, reason="nix-instantiate (Nix 2.8, the reference) is not installed")
def test_revision_matches_nix_on_a_checkout(repo_dir, nixlite, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NIX_PATH": ""}
    for rev in ("main", "feature"):
        checkout = _checkout(repo_dir, rev, tmp_path)
        nix = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "-E", PROBE],
                             capture_output=True, text=True, cwd=checkout, env=env, check=True)
        status, out, _ = nixlite("eval", "--strict", "--json", "--rev", rev, "-E", PROBE, cwd=repo_dir)
        assert status == 0 and json.loads(out) == json.loads(nix.stdout), rev
        nix = subprocess.run(["nix-instantiate", "default.nix", "-A", "drv"], capture_output=True,
                             text=True, cwd=checkout, env=env, check=True)
        assert nixlite("instantiate", "--rev", rev, "default.nix", "-A", "drv", cwd=repo_dir) == \
            (0, nix.stdout, ""), rev


def test_symlinks_resolve_inside_the_revision(repo_dir, nixlite):
    cases = {
        # the committed strings.nix, not the working tree's
        '(import ./dirlink/strings.nix).shout "a"': '"a!"',
        '(import ./back.nix).shout "a"': '"a!"',  # leaves the work tree and comes back in
        '(import ./abs.nix).shout "a"': '"a!"',  # absolute, into the work tree
        '(import ./lib/up.nix).shout "a"': '"a!"',
        "import ./out.nix": '"read from outside the repository"',  # the local file system
        "builtins.readFileType ./dirlink": '"symlink"',
        "builtins.readDir ./dirlink": '{ "link.nix" = "symlink"; "run.sh" = "regular"; '
                                     '"strings.nix" = "regular"; "up.nix" = "symlink"; "words.txt" = "regular"; }',
        "builtins.pathExists ./loop": "true",
    }
    for expr, want in cases.items():
        assert nixlite("eval", "--rev", "links", "-E", expr, cwd=repo_dir) == (0, want + "\n", ""), expr
    status, _, err = nixlite("eval", "--rev", "links", "-E", "builtins.readFile ./loop", cwd=repo_dir)
    assert status == 1 and err.startswith(
        f"error: opening file '{repo_dir}/loop': Too many levels of symbolic links (at git revision 'links')")


def test_error_positions_name_the_working_tree(repo_dir, nixlite, tmp_path):
    checkout = _checkout(repo_dir, "feature", tmp_path)
    status, out, err = nixlite("eval", "--rev", "feature", "lib/bad.nix", cwd=repo_dir)
    local = nixlite("eval", "lib/bad.nix", cwd=checkout)
    assert (status, out) == (1, "") and local[0] == 1
    assert err == local[2].replace(str(checkout), str(repo_dir))
    assert f"at {repo_dir}/lib/bad.nix:4:7:" in err and '4|   x + "a"' in err
    status, out, err = nixlite("eval", "--rev", "feature", "-E", "toString ./.", cwd=repo_dir)
    assert out == f'"{repo_dir}"\n'


def test_filters_see_working_tree_paths(repo_dir, nixlite, tmp_path):
    """A filter is called as on a checkout: the same paths (spelled in the work tree),
    kinds and order, and the same store path results."""
    expr = 'builtins.filterSource (p: t: builtins.trace "${p} ${t}" (t != "symlink")) ./lib'
    checkout = _checkout(repo_dir, "links", tmp_path)
    ours = nixlite("eval", "--rev", "links", "-E", expr, cwd=repo_dir)
    local = nixlite("eval", "-E", expr, cwd=checkout)
    assert ours[0] == 0 and ours[1] == local[1]
    assert ours[2] == local[2].replace(str(checkout), str(repo_dir))
    assert f"trace: {repo_dir}/lib/up.nix symlink" in ours[2]


# -------------------------------------------------------------------- errors


def test_errors(repo_dir, nixlite, tmp_path):
    def error(*argv, cwd=repo_dir):
        status, out, err = nixlite(*argv, cwd=cwd)
        assert (status, out) == (1, ""), argv
        return err

    assert error("eval", "--rev", "no-such-branch", "default.nix") == \
        f"error: unknown revision 'no-such-branch' in the git repository '{repo_dir}'\n"
    assert error("eval", "--rev", "main", "-E", "1", cwd=tmp_path) == \
        f"error: cannot read revision 'main': '{tmp_path}' is not inside a git repository\n"
    blob = str(pygit2.Repository(str(repo_dir)).revparse_single("main:lib/words.txt").id)
    assert error("eval", "--rev", blob, "default.nix") == \
        f"error: revision '{blob}' in the git repository '{repo_dir}' is a blob, not a commit or a tree\n"
    assert error("eval", "--rev", "main:lib", "default.nix") == \
        "error: revision 'main:lib' names the directory 'lib' of 'main', not a whole revision: " \
        "give 'main' and the recipe's path in the work tree\n"
    assert nixlite("eval", "--rev", "main:", "-E", "1", cwd=repo_dir) == (0, "1\n", "")  # root tree
    # lib/text.nix is feature's: main does not have it, whatever the working tree holds
    assert error("eval", "--rev", "main", "lib/text.nix") == \
        f"error: getting status of '{repo_dir}/lib/text.nix': No such file or directory " \
        "(at git revision 'main')\n"
    assert error("eval", "--rev", "main", "lib/new.nix").startswith(
        f"error: getting status of '{repo_dir}/lib/new.nix': No such file or directory")
    assert error("eval", "--rev", "feature", "-E", "builtins.readFile ./lib/strings.nix").startswith(
        f"error: opening file '{repo_dir}/lib/strings.nix': No such file or directory "
        "(at git revision 'feature')")


# ------------------------------------------------------- the tree left alone


def test_working_tree_and_index_untouched(repo_dir, tmp_path):
    """Evaluating, instantiating and building a revision reads git objects only."""
    before = _snapshot(repo_dir)
    repo = pygit2.Repository(str(repo_dir))
    status = repo.status()
    assert status == {"default.nix": pygit2.GIT_STATUS_WT_MODIFIED,
                      "lib/strings.nix": pygit2.GIT_STATUS_WT_MODIFIED,
                      "lib/words.txt": pygit2.GIT_STATUS_INDEX_MODIFIED,
                      "lib/new.nix": pygit2.GIT_STATUS_WT_NEW}
    env = {**os.environ, "NIXLITE_STORE": str(tmp_path / "store"), "NIX_PATH": ""}
    nixlite = [sys.executable, "-m", "nixlite"]
    for argv in (["eval", "--strict", "--rev", "v1", "default.nix", "-A", "drv"],
                 ["instantiate", "--rev", "feature", "default.nix", "-A", "drv"],
                 ["build", "--rev", "v1", str(repo_dir / "default.nix"), "-A", "drv"]):
        subprocess.run(nixlite + argv, cwd=repo_dir if argv[0] != "build" else tmp_path,
                       env=env, check=True, capture_output=True)
    assert _snapshot(repo_dir) == before
    assert pygit2.Repository(str(repo_dir)).status() == status


# --------------------------------------------------------------------- build


def test_build_a_revision(repo_dir, tmp_path):
    env = {**os.environ, "NIXLITE_STORE": str(tmp_path / "store"), "NIX_PATH": ""}
    outs = {}
    for rev in ("v1", "main"):
        p = subprocess.run([sys.executable, "-m", "nixlite", "build", "--rev", rev,
                            str(repo_dir / "default.nix"), "-A", "drv", "-o", f"result-{rev}"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        outs[rev] = p.stdout.strip()
        assert (tmp_path / f"result-{rev}").read_text() == {"v1": "first words\n",
                                                             "main": "second words\n"}[rev]
    assert outs["v1"] != outs["main"]

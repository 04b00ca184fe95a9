"""``nixlite compare`` with recipes: image sides built first (dockerTools fixtures on
nixlite's own package set), ``--drv`` through the inputs of derivations, and
``--against-nix`` with Debian's Nix 2.8 as the other evaluator."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from comparekit import FIXTURES, validate

# a chain top → mid → leaf of nixlite's own builders; VARIANT changes only the leaf
CHAIN = """
let
  pkgs = import <nixpkgs> {};
  leaf = pkgs.writeText "leaf" "LEAF";
  mid = pkgs.runCommand "mid" { inherit leaf; flags = "-a -b -c"; } "cat $leaf > $out";
  other = pkgs.writeText "other" "same on both sides";
in {
  top = pkgs.runCommand "top" { inherit mid other; } "cat $mid $other > $out";
}
"""


@pytest.fixture
def chain(tmp_path):
    a, b = tmp_path / "a.nix", tmp_path / "b.nix"
    a.write_text(CHAIN.replace("LEAF", "the leaf text, which is long enough to be worth "
                                       "showing as a word diff rather than whole"))
    b.write_text(CHAIN.replace("LEAF", "the leaf text, which is long enough to be worth "
                                       "showing as a word diff instead of whole"))
    return a, b


def test_a_recipe_compares_equal_to_its_own_build(compare, store_dir, namespaces, tmp_path):
    from nixlite.cli import main

    hello = FIXTURES / "hello.nix"
    assert main(["build", str(hello), "--store", store_dir, "-o", str(tmp_path / "result"),
                 "--quiet"]) == 0
    assert compare(hello, tmp_path / "result", "--store", store_dir) == (
        0, "images are identical\n", "")
    status, out, _ = compare(hello, FIXTURES / "layered.nix", "--store", store_dir)
    assert status == 1 and out.startswith("images differ: ")
    assert '~ Cmd: ["/bin/sh", "-c", "cat /greeting; id -un"] → ' \
        '["/bin/sh", "-c", "cat /home/app/data"]' in out


def test_a_stream_script_result_is_read_as_its_archive(compare, store_dir, namespaces):
    layered = FIXTURES / "layered.nix"
    # streamLayeredImage's result is a script printing the archive buildLayeredImage stores
    status, out, err = compare(layered, layered, "--store", store_dir, "--arg", "stream", "true")
    assert (status, out) == (0, "images are identical\n"), err


def test_drv_explains_a_difference_deep_in_the_inputs(compare, chain, store_dir):
    status, out, err = compare("--drv", *chain, "-A", "top", "--store", store_dir)
    assert status == 1, err
    lines = out.splitlines()
    assert lines[0] == "derivations differ: 3 differences in 3 derivations; deepest: " \
                       "top → mid → leaf"
    assert "top → mid → leaf:" in lines
    leaf = lines[lines.index("top → mid → leaf:") + 1:]
    assert leaf[0] == "  ~ env.text: the leaf text, which is long enough to be worth " \
                      "showing as a word diff [-rather than-]{+instead of+} whole"
    assert "other" not in out  # identical inputs are not descended into
    status, out, _ = compare("--drv", *chain, "-A", "top", "--store", store_dir, "--json")
    validate(json.loads(out))
    root = json.loads(out)["root"]
    assert [c["what"] for c in root["changes"]] == ["env", "input-changed"]
    (mid,) = root["inputs"]
    (leaf_node,) = mid["inputs"]
    assert leaf_node["chain"] == ["top", "mid", "leaf"]
    assert leaf_node["changes"][0]["what"] == "env" and leaf_node["changes"][0]["name"] == "text"


def test_drv_takes_drv_paths_and_finds_no_difference_in_equal_ones(compare, chain, store_dir,
                                                                   tmp_path, capsys):
    from nixlite.cli import main

    paths = []
    for recipe in chain:
        capsys.readouterr()
        assert main(["instantiate", str(recipe), "-A", "top", "--store", store_dir]) == 0
        paths.append(capsys.readouterr().out.strip())
    status, out, _ = compare("--drv", *paths, "--store", store_dir)
    assert status == 1 and out.splitlines()[1] == f"--- a: {paths[0]}"
    assert compare("--drv", paths[0], paths[0], "--store", store_dir) == (
        0, f"derivations are identical: {paths[0]}\n", "")
    status, _, err = compare("--drv", paths[0], "/nix/store/" + "0" * 32 + "-gone.drv",
                             "--store", store_dir)
    assert (status, err) == (2, f"error: derivation '/nix/store/{'0' * 32}-gone.drv' is not in "
                                "the store (nor a file)\n")


def test_drv_takes_what_instantiate_and_build_print(compare, chain, store_dir, namespaces,
                                                    tmp_path, capsys):
    """A side may be ``DRV!OUTPUT`` (as instantiate prints an output other than ``out``)
    or a ``result`` link to an output nixlite built (its deriver is compared)."""
    from nixlite.cli import main

    capsys.readouterr()
    assert main(["build", str(chain[0]), "-A", "top", "--store", store_dir, "--quiet",
                 "-o", str(tmp_path / "result")]) == 0
    assert main(["instantiate", str(chain[0]), "-A", "top", "--store", store_dir]) == 0
    drv = capsys.readouterr().out.splitlines()[-1]
    identical = (0, f"derivations are identical: {drv}\n", "")
    assert compare("--drv", drv + "!out", tmp_path / "result", "--store", store_dir) == identical
    assert compare("--drv", tmp_path / "result", chain[0], "-A", "top",
                   "--store", store_dir) == identical
    source = "/nix/store/" + "0" * 32 + "-not-built"
    status, _, err = compare("--drv", source, drv, "--store", store_dir)
    assert (status, err) == (2, f"error: '{source}' is not a derivation, and nixlite's store "
                                "knows no derivation that built it: give a .drv or a recipe "
                                "with -A\n")


needs_nix = pytest.mark.skipif(shutil.which("nix-instantiate") is None,
                               reason="the reference Nix 2.8 (nix-bin) is not installed")


@needs_nix
@pytest.mark.nix
def test_against_nix_finds_a_fixture_recipe_identical(compare, store_dir):
    status, out, err = compare("--against-nix", FIXTURES / "hello.nix", "--store", store_dir)
    assert status == 0, err
    assert re.fullmatch(r"derivations are identical: /nix/store/\w{32}-docker-image-Hello"
                        r"\.tar\.gz\.drv\n", out)


@needs_nix
@pytest.mark.nix
def test_against_nix_shows_how_a_recipe_variant_differs(compare, store_dir, tmp_path):
    variant = tmp_path / "hello-variant.nix"
    variant.write_text((FIXTURES / "hello.nix").read_text()
                       .replace('tag = "v1"', 'tag = "v2"')
                       .replace("cat /greeting", "cat /greeting /etc/passwd"))
    status, out, err = compare("--against-nix", FIXTURES / "hello.nix", variant,
                               "--store", store_dir)
    assert status == 1, err
    lines = out.splitlines()
    assert lines[0].startswith("derivations differ: ")
    assert lines[1].startswith("--- nix-instantiate: /nix/store/")
    assert lines[2].startswith("+++ nixlite: /nix/store/")
    image = lines[lines.index("docker-image-Hello.tar.gz:") + 1:]
    assert image[0] == "  ~ env.nixliteArgs:" and '[-v1-]{+v2+}' in image[1]
    layer = lines[lines.index("docker-image-Hello.tar.gz → docker-layer-Hello:") + 1:]
    assert r'\"cat /greeting{+ /etc/passwd+}; id -un\"' in layer[1]


def test_against_nix_without_nix_is_a_clear_error(compare, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    status, out, err = compare("--against-nix", FIXTURES / "hello.nix")
    assert (status, out) == (2, "")
    assert err == "error: --against-nix needs Nix's nix-instantiate, which is not on PATH " \
                  "(install Nix, e.g. Debian's nix-bin)\n"


def test_recipe_errors_have_status_2(compare, tmp_path, store_dir):
    bad = tmp_path / "bad.nix"
    bad.write_text("{ x = 1 + ; }")
    status, out, err = compare("--drv", bad, bad, "--store", store_dir)
    assert (status, out) == (2, "") and err.startswith("error: syntax error")
    status, _, err = compare(bad, bad, "-A", "x", "-A", "y", "-A", "z", "--store", store_dir)
    assert (status, err) == (2, "error: -A is given 3 times for 2 recipe side(s): give it "
                                "once (for every recipe) or once per recipe\n")
    assert os.listdir(tmp_path) == ["bad.nix"]  # no result link, nothing half-written


def test_drv_shows_the_lines_of_a_changed_source_file(compare, tmp_path, store_dir):
    for side, line in (("a", "echo one"), ("b", "echo two")):
        (tmp_path / side).mkdir()
        (tmp_path / side / "run.sh").write_text(f"#!/bin/sh\nset -e\n{line}\nexit 0\n")
        (tmp_path / side / "default.nix").write_text(
            'let pkgs = import <nixpkgs> {}; in\n'
            'pkgs.runCommand "uses-source" { src = ./run.sh; } "cp $src $out"\n')
    status, out, _ = compare("--drv", tmp_path / "a", tmp_path / "b", "--store", store_dir)
    assert status == 1
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  ~ source run.sh: "))
    assert lines[at + 1:at + 7] == ["      @@ -1,4 +1,4 @@", "       #!/bin/sh", "       set -e",
                                    "      -echo one", "      +echo two", "       exit 0"]
    status, out, _ = compare("--drv", tmp_path / "a", tmp_path / "b", "--store", store_dir,
                             "--json")
    validate(json.loads(out))
    (source,) = [c for c in json.loads(out)["root"]["changes"] if c["what"] == "source"]
    assert source["texts"] == ["#!/bin/sh\nset -e\necho one\nexit 0\n",
                               "#!/bin/sh\nset -e\necho two\nexit 0\n"]


# A recipe on its own package set, committed twice to a real repository (pygit2): the
# image's greeting changes between main and the branch, and the working tree is dirty.
REV_RECIPE = """{ pkgs ? import <nixpkgs> {} }:
pkgs.dockerTools.buildImage {
  name = "rev"; tag = "v1";
  copyToRoot = [ (pkgs.writeTextDir "greeting" (import ./greeting.nix)) ];
  config.Cmd = [ "/greeting" ];
}
"""


def _commit(repo, files: dict[str, str], parents: list, ref: str):
    import pygit2

    builder = repo.TreeBuilder()
    for name, text in files.items():
        builder.insert(name, repo.create_blob(text.encode()), pygit2.GIT_FILEMODE_BLOB)
    sig = pygit2.Signature("nixlite tests", "tests@nixlite.invalid", 1700000000, 0)
    return repo.create_commit(ref, sig, sig, "commit", builder.write(), parents)


def test_rev_compares_what_a_branch_changes(compare, store_dir, namespaces, tmp_path):
    import pygit2

    work = tmp_path / "repo"
    repo = pygit2.init_repository(str(work))
    main_commit = _commit(repo, {"default.nix": REV_RECIPE, "greeting.nix": '"hello"'}, [],
                          "refs/heads/main")
    _commit(repo, {"default.nix": REV_RECIPE, "greeting.nix": '"hello, branch"'},
            [main_commit], "refs/heads/feature")
    (work / "default.nix").write_text(REV_RECIPE)
    (work / "greeting.nix").write_text('"uncommitted"')
    recipe = work / "default.nix"

    status, out, err = compare("--rev", "main", "--rev", "feature", recipe, "--store", store_dir)
    assert status == 1, err
    assert out.startswith("images differ: ")
    assert f"--- a: {recipe}@main" in out and f"+++ b: {recipe}@feature" in out
    assert "~ /greeting  size 5 → 13" in out
    assert compare("--rev", "main", "--rev", "main", recipe, "--store", store_dir)[:2] == (
        0, "images are identical\n")
    # one --rev: that revision against the working tree, whose change counts
    status, out, _ = compare("--drv", "--rev", "main", recipe, "--store", store_dir)
    assert status == 1 and '"hello" → "uncommitted"' in out
    assert compare("--rev", "nosuch", recipe, "--store", store_dir)[0] == 2

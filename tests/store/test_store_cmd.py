"""`nixlite store …` and `nixlite instantiate --store` through the real CLI entry point."""
import base64
import json
import os

import pytest

from nixlite.cli import main

HERE = os.path.join(os.path.dirname(__file__), "vectors")
VECTORS = json.load(open(os.path.join(HERE, "store-vectors.json")))
TREE = next(c for c in VECTORS if c["id"] == "nar-nested-dir")


def run(capsysbinary, *argv):
    code = main(list(argv))
    out, err = capsysbinary.readouterr()
    return code, out, err


def test_add_dump_info_cat_verify(tmp_path, capsysbinary):
    store = str(tmp_path / "s")
    code, out, _ = run(capsysbinary, "store", "--store", store, "add", os.path.join(HERE, "files", "tree"))
    path = out.decode().strip()
    assert code == 0 and path == TREE["store_path_when_imported"]
    code, out, _ = run(capsysbinary, "store", "--store", store, "dump", path)
    assert code == 0 and out == base64.b64decode(TREE["nar_base64"])
    code, out, _ = run(capsysbinary, "store", "--store", store, "path-info", "--json", path)
    info = json.loads(out)[0]
    assert info["narSize"] == TREE["nar_size"] and info["references"] == []
    assert info["narHash"] == "sha256-" + base64.b64encode(bytes.fromhex(TREE["nar_sha256_hex"])).decode()
    code, out, _ = run(capsysbinary, "store", "--store", store, "cat", path + "/sub/deep/x.txt")
    assert out == open(os.path.join(HERE, "files", "tree", "sub", "deep", "x.txt"), "rb").read()
    code, out, err = run(capsysbinary, "store", "--store", store, "verify")
    assert code == 0 and err == b""
    code, out, _ = run(capsysbinary, "store", "--store", store, "add", "--flat",
                       os.path.join(HERE, "files", "hello.txt"))
    assert out.decode().strip() == "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt"


def test_instantiate_writes_closure(tmp_path, capsysbinary):
    store = str(tmp_path / "s")
    expr = ('let a = derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; '
            'outputs = [ "dev" "out" ]; }; in derivation { name = "b"; system = "x86_64-linux"; '
            'builder = "/bin/sh"; inherit a; s = builtins.toFile "s" "x"; }')
    code, out, _ = run(capsysbinary, "instantiate", "--store", store, "-E", expr)
    drv = out.decode().strip()
    assert code == 0 and drv.endswith("-b.drv")
    code, out, _ = run(capsysbinary, "store", "--store", store, "requisites", drv)
    closure = out.decode().split()
    assert len(closure) == 3 and any(p.endswith("-a.drv") for p in closure)
    code, out, _ = run(capsysbinary, "store", "--store", store, "show-derivation", drv)
    shown = json.loads(out)[drv]
    assert list(shown["inputDrvs"].values()) == [["dev"]]
    assert shown["env"]["name"] == "b"


def test_missing_paths_are_errors(tmp_path, capsysbinary):
    store = str(tmp_path / "s")
    code, _, err = run(capsysbinary, "store", "--store", store, "cat",
                       "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x")
    assert code == 1 and b"is not valid" in err
    code, _, err = run(capsysbinary, "store", "--store", store, "add", str(tmp_path / "nope"))
    assert code == 1 and b"No such file or directory" in err
    code, _, err = run(capsysbinary, "instantiate", "--store", store, "-E", "1")
    assert code == 1 and b"does not evaluate to a derivation" in err


def test_instantiate_add_root(tmp_path, capsysbinary):
    store = str(tmp_path / "s")
    expr = ('[ (derivation { name = "a"; system = "x"; builder = "/bin/sh"; }) '
            '(derivation { name = "b"; system = "x"; builder = "/bin/sh"; outputs = [ "dev" "out" ]; }) ]')
    root = str(tmp_path / "result")
    code, out, _ = run(capsysbinary, "instantiate", "--store", store, "--add-root", root, "-E", expr)
    assert code == 0 and out.decode().split() == [root, root + "-2!dev"]
    assert open(root, "rb").read().startswith(b"Derive(")
    assert os.readlink(root + "-2").endswith("-b.drv")


def test_cat_and_dump_refuse_what_is_not_there(tmp_path, capsysbinary):
    store = str(tmp_path / "s")
    code, out, _ = run(capsysbinary, "store", "--store", store, "add", os.path.join(HERE, "files", "tree"))
    path = out.decode().strip()
    for sub, why in (("/nope", "does not exist"), ("/a.txt/x", "does not exist"),
                     ("/sub/link", "is not a regular file"), ("", "is not a regular file")):
        code, _, err = run(capsysbinary, "store", "--store", store, "cat", path + sub)
        assert code == 1 and err.decode() == f"error: path '{path}{sub}' {why}\n"
    code, out, _ = run(capsysbinary, "store", "--store", store, "add", "--flat",
                       os.path.join(HERE, "files", "hello.txt"))
    flat = out.decode().strip()
    os.unlink(os.path.join(store, "store", os.path.basename(flat)))
    code, out, err = run(capsysbinary, "store", "--store", store, "dump", flat)
    assert code == 1 and out == b""
    assert err.decode().startswith(f"error: path '{flat}' is registered as valid but its contents are missing")


def test_store_flag_after_the_subcommand(tmp_path, capsysbinary):
    store = str(tmp_path / "s")
    code, out, _ = run(capsysbinary, "store", "add", os.path.join(HERE, "files", "tree"), "--store", store)
    path = out.decode().strip()
    assert code == 0 and path == TREE["store_path_when_imported"]
    code, out, _ = run(capsysbinary, "store", "--store", store, "path-info", path)
    assert code == 0 and out.decode().startswith(path + "\t")


@pytest.mark.parametrize("command", [["eval", "-A", "drvPath"], ["instantiate"], ["build"]])
def test_unusable_store_is_not_blamed_on_the_expression(tmp_path, capsysbinary, command):
    """Opening the store happens when evaluation first needs it, but a store that cannot
    be opened is a set-up problem: no source position, excerpt or trace."""
    recipe = tmp_path / "recipe.nix"
    recipe.write_text('derivation { name = "a"; system = "x"; builder = builtins.toFile "b" "c"; }\n')
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = str(blocker / "store")
    code, out, err = run(capsysbinary, *command, "--store", store, str(recipe))
    assert (code, out) == (1, b"")
    assert err.decode() == f"error: cannot create the store at '{store}': Not a directory\n"

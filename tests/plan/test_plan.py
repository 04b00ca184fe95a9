"""``nixlite plan`` and ``nixlite build --plan``: every dockerTools fixture recipe planned,
the plan built into a second store (no evaluation there), and the out paths and image
bytes compared with ``nixlite build`` of the recipe; the plan's bytes stable and equal to
a golden file for a small recipe; hand-edited plans validated (node and field named) or,
when valid, built with their paths recomputed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w

from nixlite.cli import main
from nixlite.plan.document import PlanError, parse
from nixlite.plan.load import load
from nixlite.store.local import LocalStore

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "fixtures" / "dockertools"
SMALL = ROOT / "fixtures" / "plan" / "small.nix"
GOLDEN = ROOT / "fixtures" / "plan" / "small.toml"
BUSYBOX = "/bin/busybox"
NO_SUBSTITUTES = ["--substituters", ""]


def _namespaces() -> bool:
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


needs_namespaces = pytest.mark.skipif(not _namespaces(), reason="user and mount namespaces are unavailable")


@pytest.fixture(scope="session")
def stores(tmp_path_factory):
    """Two stores for the session: the recipes are built in one, their plans in the
    other (so a plan's build cannot reuse what the recipe built); builds are cached."""
    root = tmp_path_factory.mktemp("plan-stores")
    yield root / "recipes", root / "plans"
    subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)


@pytest.fixture
def nixlite(monkeypatch, tmp_path, capsys):
    """``nixlite ARGS`` in-process with no NIX_PATH: (status, stdout, stderr)."""
    monkeypatch.setenv("NIX_PATH", "")
    monkeypatch.chdir(tmp_path)

    def run(*args: str):
        capsys.readouterr()
        status = main(list(args))
        out, err = capsys.readouterr()
        return status, out, err
    return run


ROUND_TRIPS = {
    "hello": ("hello.nix",),
    "layered": ("layered.nix",),
    "layered-stream": ("layered.nix", "--arg", "stream", "true"),
    "run-as-root": ("run-as-root.nix",),
    "run-as-root-export": ("run-as-root.nix", "--arg", "export", "true"),
    "nix-db": ("nix-db.nix",),
    "merged": ("merged.nix",),
}

# the images in a result that holds several (mergeImages); none in an exported root file system
IMAGES_OF = {"merged": ("hello:v1", "layered:latest"), "run-as-root-export": ()}


def _store_names(printed: str) -> list[str]:
    """The HASH-NAME of each path ``nixlite build`` printed: it prints where an output is
    on disk, which differs between the two stores of a round trip."""
    return [os.path.basename(path) for path in printed.split()]


@needs_namespaces
@pytest.mark.parametrize("case", sorted(ROUND_TRIPS))
def test_recipe_plan_builds_the_same_image(case, stores, nixlite, tmp_path):
    recipe, *args = ROUND_TRIPS[case]
    recipes_store, plans_store = (str(s) for s in stores)
    recipe_args = [str(RECIPES / recipe), *args]
    status, out, err = nixlite("build", *recipe_args, "--store", recipes_store, "-o", "from-recipe",
                               *NO_SUBSTITUTES)
    assert status == 0, err
    status, _, err = nixlite("plan", *recipe_args, "--store", recipes_store, "-o", "plan.toml")
    assert status == 0, err
    status, planned, err = nixlite("build", "--plan", "plan.toml", "--store", plans_store,
                                   "-o", "from-plan", *NO_SUBSTITUTES)
    assert status == 0, err
    assert "was edited" not in err
    assert _store_names(planned) == _store_names(out)
    recipe_out = os.path.realpath(tmp_path / "from-recipe")
    plan_out = os.path.realpath(tmp_path / "from-plan")
    assert recipe_out.startswith(recipes_store) and plan_out.startswith(plans_store)
    assert Path(plan_out).read_bytes() == Path(recipe_out).read_bytes()
    # and what a user would run to check it: the images compare identical
    for tag in IMAGES_OF.get(case, ("",)):
        sides = [f"docker-archive:{side}:{tag}" if tag else side for side in ("from-recipe", "from-plan")]
        status, compared, err = nixlite("compare", *sides, "--store", plans_store)
        assert (status, compared) == (0, "images are identical\n"), err


@needs_namespaces
def test_pulled_recipe_plan_fetches_the_same_base(stores, nixlite, tmp_path, registry):
    """``pulled.nix``: ``pullImage`` (a fetch node) from the test registry under a
    ``buildImage``; the hash is learnt as users learn it, from a build with a wrong one."""
    recipes_store, plans_store = (str(s) for s in stores)
    status, _, err = nixlite("build", str(RECIPES / "hello.nix"), "--store", recipes_store,
                             "-o", "hello", *NO_SUBSTITUTES)
    assert status == 0, err
    reference = f"docker://{registry.host}/test/hello:v1"
    assert nixlite("image", "push", "--tls-verify=false", "hello", reference)[0] == 0
    status, out, err = nixlite("image", "inspect", "--tls-verify=false", reference)
    assert status == 0, err
    args = [str(RECIPES / "pulled.nix"), "--argstr", "registry", registry.host,
            "--argstr", "digest", json.loads(out)["Digest"], "--argstr", "hash"]
    status, _, err = nixlite("build", *args, "sha256-" + "A" * 43 + "=", "--store", recipes_store,
                             *NO_SUBSTITUTES)
    assert status == 102, err
    args.append(err.split("got:")[1].split()[0])
    status, out, err = nixlite("build", *args, "--store", recipes_store, "-o", "from-recipe",
                               *NO_SUBSTITUTES)
    assert status == 0, err
    status, _, err = nixlite("plan", *args, "--store", recipes_store, "-o", "plan.toml")
    assert status == 0, err
    nodes = tomllib.loads((tmp_path / "plan.toml").read_text())["nodes"]
    pull = nodes["docker-image-hello-v1.tar"]
    assert pull["kind"] == "fetch" and pull["env"]["nixliteArgs"]["json"]["imageDigest"].startswith("sha256:")
    status, planned, err = nixlite("build", "--plan", "plan.toml", "--store", plans_store,
                                   "-o", "from-plan", *NO_SUBSTITUTES)
    assert status == 0, err
    assert _store_names(planned) == _store_names(out)
    assert (tmp_path / "from-plan").read_bytes() == (tmp_path / "from-recipe").read_bytes()


@needs_namespaces
@pytest.mark.skipif(not os.path.isfile(BUSYBOX), reason="needs a static /bin/busybox (busybox-static)")
def test_a_binary_source_travels_as_a_nar_file_beside_the_plan(stores, nixlite, tmp_path):
    """A directory holding a binary (``builtins.path``) is no inline text: the plan keeps its
    NAR in ``plan.sources/`` with the NAR's hash; the image built from the plan is the same."""
    tree = tmp_path / "tree" / "bin"
    tree.mkdir(parents=True)
    (tree / "busybox").write_bytes(Path(BUSYBOX).read_bytes())
    (tree / "busybox").chmod(0o755)
    os.symlink("busybox", tree / "sh")
    recipes_store, plans_store = (str(s) for s in stores)
    args = [str(RECIPES / "hello.nix"), "--arg", "busybox",
            f'builtins.path {{ name = "busybox"; path = {tree.parent}; }}']
    status, out, err = nixlite("build", *args, "--store", recipes_store, "-o", "from-recipe",
                               *NO_SUBSTITUTES)
    assert status == 0, err
    (tmp_path / "out" / "plan.sources").mkdir(parents=True)
    (tmp_path / "out" / "plan.sources" / "gone.nar").write_bytes(b"from an earlier plan")
    status, _, err = nixlite("plan", *args, "--store", recipes_store, "-o", "out/plan.toml")
    assert status == 0, err
    assert os.listdir(tmp_path / "out" / "plan.sources") == ["busybox.nar"]
    node = tomllib.loads((tmp_path / "out" / "plan.toml").read_text())["nodes"]["busybox"]
    assert node["nar-file"] == "plan.sources/busybox.nar" and node["nar-hash"].startswith("sha256-")
    assert (tmp_path / "out" / "plan.sources" / "busybox.nar").is_file()
    status, planned, err = nixlite("build", "--plan", "out/plan.toml", "--store", plans_store,
                                   "-o", "from-plan", *NO_SUBSTITUTES)
    assert status == 0, err
    assert _store_names(planned) == _store_names(out)
    assert (tmp_path / "from-plan").read_bytes() == (tmp_path / "from-recipe").read_bytes()
    # Without -o there is nowhere to keep the NAR: a clear error, nothing written.
    status, printed, err = nixlite("plan", *args, "--store", recipes_store)
    assert (status, printed) == (1, "")
    assert err.startswith("error: the source '/nix/store/") and "with -o FILE" in err


def test_an_executable_source_stays_executable(nixlite, tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho run\n")
    script.chmod(0o755)
    expr = (f'derivation {{ name = "x"; system = "x86_64-linux"; builder = {script}; '
            f'args = [ {SMALL.parent / "motd"} ]; }}')
    status, out, err = nixlite("plan", "-E", expr, "--store", str(tmp_path / "s"))
    assert status == 0, err
    nodes = tomllib.loads(out)["nodes"]
    assert nodes["run.sh"]["executable"] is True and "executable" not in nodes["motd"]
    (tmp_path / "p.toml").write_text(out)
    loaded = _load(tmp_path / "again", tmp_path / "p.toml")
    assert loaded.changed == [] and loaded.source_paths["run.sh"] == nodes["run.sh"]["path"]
    assert os.access(LocalStore(str(tmp_path / "again" / "s")).physical(nodes["run.sh"]["path"]), os.X_OK)


# ------------------------------------------------------------------ stability


@pytest.fixture(scope="module")
def small_plan(tmp_path_factory):
    """The small recipe planned twice, in separate processes and stores: (first, second)."""
    runs = []
    for n in range(2):
        store = tmp_path_factory.mktemp(f"small-{n}")
        proc = subprocess.run([sys.executable, "-m", "nixlite", "plan", str(SMALL), "--store",
                               str(store)], capture_output=True, env={**os.environ, "NIX_PATH": ""})
        assert proc.returncode == 0, proc.stderr.decode()
        runs.append(proc.stdout)
    return runs


def test_planning_twice_gives_the_same_bytes_as_the_golden_plan(small_plan):
    first, second = small_plan
    assert first == second
    assert first == GOLDEN.read_bytes(), (
        "the small recipe's plan changed; if the change is meant (dockerTools' step arguments, "
        "the plan format), review and regenerate it: "
        "NIX_PATH= nixlite plan fixtures/plan/small.nix > fixtures/plan/small.toml")


def test_golden_plan_reads_as_a_reviewer_wants(small_plan):
    text = small_plan[0].decode()
    # scripts as multi-line literal strings, step arguments decoded, no escaped JSON
    assert "contents = '''\nread -r line < /nix/store/" in text
    assert '[nodes.docker-layer-small.env.nixliteArgs.json.baseJson.config]' in text
    assert '\\"' not in text
    kinds = {i: n["kind"] for i, n in tomllib.loads(text)["nodes"].items()}
    assert kinds == {"fake-nss": "native", "fixed.txt": "fetch", "motd": "source",
                     "greet.sh": "source", "greeting": "command", "docker-layer-small": "native",
                     "docker-image-small.tar.gz": "native"}
    assert list(kinds).index("motd") < list(kinds).index("greet.sh") < list(kinds).index("greeting")


def test_json_format_is_the_same_document(tmp_path, nixlite):
    status, out, err = nixlite("plan", str(SMALL), "--store", str(tmp_path / "s"), "--format", "json")
    assert status == 0, err
    assert json.loads(out) == tomllib.loads(GOLDEN.read_text())
    (tmp_path / "plan.json").write_text(out)
    toml_loaded = load(parse(GOLDEN.read_bytes(), "small.toml", "."), LocalStore(str(tmp_path / "a")))
    json_loaded = load(parse(out.encode(), "plan.json", "."), LocalStore(str(tmp_path / "b")))
    assert json_loaded.drv_paths == toml_loaded.drv_paths and not json_loaded.changed
    # --json and an -o FILE.json ask for the same; --xml and --strict are not plan's
    assert nixlite("plan", str(SMALL), "--store", str(tmp_path / "s"), "--json")[1] == out
    written = tmp_path / "written.json"
    assert nixlite("plan", str(SMALL), "--store", str(tmp_path / "s"), "-o", str(written))[0] == 0
    assert json.loads(written.read_text()) == json.loads(out)
    for flag in ("--xml", "--strict"):
        with pytest.raises(SystemExit, match="^1$"):  # how argparse leaves on a bad command line
            nixlite("plan", str(SMALL), flag)


@needs_namespaces
def test_build_from_a_plan_imports_no_evaluator(tmp_path):
    """``build --plan`` in a process where the parser and evaluator cannot be imported."""
    code = (
        "import sys\n"
        "for name in ('nixlite.eval', 'nixlite.syntax', 'nixlite.resolve', 'lark'):\n"
        "    sys.modules[name] = None\n"
        "from nixlite.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", code, "build", "--plan", str(GOLDEN), "--store",
                           str(tmp_path / "s"), "-o", str(tmp_path / "result"), *NO_SUBSTITUTES],
                          capture_output=True, text=True, env={**os.environ, "NIX_PATH": ""})
    assert proc.returncode == 0, proc.stderr
    target = tomllib.loads(GOLDEN.read_text())["nodes"]["docker-image-small.tar.gz"]
    assert _store_names(proc.stdout) == _store_names(target["outputs"]["out"]["path"])
    assert os.path.realpath(tmp_path / "result").endswith("-docker-image-small.tar.gz")


# ------------------------------------------------------------------ editing


def _edited(tmp_path, edit) -> Path:
    document = tomllib.loads(GOLDEN.read_text())
    edit(document)
    path = tmp_path / "edited.toml"
    path.write_text(tomli_w.dumps(document))
    return path


def _load(tmp_path, path: Path):
    return load(parse(path.read_bytes(), path.name, str(path.parent)), LocalStore(str(tmp_path / "s")))


def test_an_edited_node_gets_new_paths_and_its_users_follow(tmp_path):
    def edit(d):
        d["nodes"]["greet.sh"]["contents"] = d["nodes"]["greet.sh"]["contents"].replace("yes", "edited")
    loaded = _load(tmp_path, _edited(tmp_path, edit))
    golden = tomllib.loads(GOLDEN.read_text())["nodes"]
    changed = {node for node, _, _ in loaded.changed}
    assert changed == {"greet.sh", "greeting", "docker-layer-small", "docker-image-small.tar.gz"}
    store = LocalStore(str(tmp_path / "s"))
    greeting = store.read_derivation(loaded.drv_paths["greeting"])
    assert greeting.args[1] == loaded.source_paths["greet.sh"] != golden["greet.sh"]["path"]
    layer = store.read_derivation(loaded.drv_paths["docker-layer-small"])
    assert loaded.output_paths["greeting"]["out"] in layer.env["nixliteArgs"]
    assert golden["greeting"]["outputs"]["out"]["path"] not in layer.env["nixliteArgs"]
    assert loaded.drv_paths["fake-nss"] == golden["fake-nss"]["drv"]  # untouched


def test_a_node_added_by_hand_with_a_made_up_path(tmp_path):
    """A new node names its output with any hash; the nodes that mention it get the real one."""
    made_up = "/nix/store/" + "0" * 32 + "-extra"

    def edit(d):
        d["nodes"]["extra"] = {"kind": "command", "name": "extra", "system": "x86_64-linux",
                               "builder": "/bin/sh", "args": ["-c", "echo extra > $out"],
                               "outputs": {"out": {"path": made_up}}}
        layer = d["nodes"]["docker-layer-small"]
        layer["input-drvs"]["extra"] = ["out"]
        layer["env"]["nixliteArgs"]["json"]["contents"].append(made_up)
    loaded = _load(tmp_path, _edited(tmp_path, edit))
    extra = loaded.output_paths["extra"]["out"]
    assert extra.endswith("-extra") and extra != made_up
    layer = LocalStore(str(tmp_path / "s")).read_derivation(loaded.drv_paths["docker-layer-small"])
    assert json.loads(layer.env["nixliteArgs"])["contents"][-1] == extra
    assert loaded.drv_paths["extra"] in layer.input_drvs


def test_a_text_source_follows_the_source_it_mentions(tmp_path):
    def edit(d):
        d["nodes"]["motd"]["contents"] = "Welcome, editor.\n"
    loaded = _load(tmp_path, _edited(tmp_path, edit))
    script = LocalStore(str(tmp_path / "s")).physical(loaded.source_paths["greet.sh"])
    assert f"read -r line < {loaded.source_paths['motd']}\n" in Path(script).read_text()
    assert {node for node, _, _ in loaded.changed} >= {"motd", "greet.sh", "greeting"}


def test_build_reports_the_edit(tmp_path, nixlite):
    def edit(d):
        d["nodes"]["fixed.txt"]["env"]["note"] = "edited"
    path = _edited(tmp_path, edit)
    status, _, err = nixlite("build", "--plan", str(path), "--store", str(tmp_path / "s"),
                             "--dry-run", *NO_SUBSTITUTES)
    assert status == 0, err
    # a fixed output keeps its path: only its .drv changes, and those that use it
    assert "plan: node 'fixed.txt' was edited: '/nix/store/30hj5pcdiyyczvgz22cw8xclfyayv645-fixed.txt.drv' is now" in err
    assert "node 'fixed.txt' was edited: '/nix/store/6q1rkyz2b5m41r3gm2zvp5ndqqilq8ym-fixed.txt'" not in err


def _set(path: list, value):
    def edit(d):
        place = d
        for step in path[:-1]:
            place = place[step]
        if value is KeyError:
            del place[path[-1]]
        else:
            place[path[-1]] = value
    return edit


BAD_EDITS = {
    "unknown kind": (_set(["nodes", "greeting", "kind"], "script"),
                     "node 'greeting': field 'kind': unknown kind 'script' (expected one of: source, "
                     "native, fetch, host, command)"),
    "kind that does not fit": (_set(["nodes", "greeting", "kind"], "native"),
                               "node 'greeting': field 'kind': the node is 'native' but its fields make "
                               "it 'command' (a builder run as a command)"),
    "missing field": (_set(["nodes", "greeting", "system"], KeyError),
                      "node 'greeting': field 'system': missing field"),
    "wrong type": (_set(["nodes", "greeting", "args"], "-e"),
                   "node 'greeting': field 'args': expected a list, got a string"),
    "wrong type in env": (_set(["nodes", "greeting", "env", "system"], 64),
                          "node 'greeting': field 'env.system': expected a string (or a table with "
                          "'json' or 'base64'), got an integer"),
    "unknown field": (_set(["nodes", "greeting", "sytem"], "x"),
                      "node 'greeting': field 'sytem': unknown field"),
    "dangling input": (_set(["nodes", "greeting", "input-srcs"], ["greet.sh", "gone"]),
                       "node 'greeting': field 'input-srcs': no source node 'gone' in the plan"),
    "missing output": (_set(["nodes", "docker-layer-small", "input-drvs", "greeting"], ["dev"]),
                       "node 'docker-layer-small': field 'input-drvs.greeting': node 'greeting' has "
                       "no output 'dev'"),
    "cycle": (_set(["nodes", "fake-nss", "input-drvs"], {"docker-image-small.tar.gz": ["out"]}),
              "node 'docker-image-small.tar.gz': its inputs lead back to it: "
              "'docker-image-small.tar.gz' -> 'docker-layer-small' -> 'fake-nss' -> "
              "'docker-image-small.tar.gz'"),
    "output path in env": (_set(["nodes", "greeting", "env", "out"], "/nix/store/x"),
                           "node 'greeting': field 'env.out': an output's path is computed, not given: "
                           "remove it"),
    "bad fixed hash": (_set(["nodes", "fixed.txt", "outputs", "out", "hash"], "abc"),
                       "node 'fixed.txt': field 'outputs.out.hash': expected 64 lower-case "
                       "hexadecimal digits of a sha256 hash"),
    "bad null pointer": (_set(["nodes", "docker-image-small.tar.gz", "env", "nixliteArgs", "nulls"],
                              ["/nowhere/deep"]),
                         "node 'docker-image-small.tar.gz': field 'env.nixliteArgs': a JSON pointer "
                         "names no place: 'nowhere'"),
    "copied node": (lambda d: d["nodes"].__setitem__("greeting-2", d["nodes"]["greeting"]),
                    "node 'greeting-2': field 'drv': '/nix/store/il0qwh53mm4rnw50fldycmh927ay0rd5-"
                    "greeting.drv' is also recorded by node 'greeting'"),
    "unknown target": (_set(["targets"], [{"node": "gone"}]),
                       "targets[0]: field 'node': no node 'gone' in the plan"),
    "version": (_set(["version"], 2),
                "top level: field 'version': this nixlite reads plans of version 1, not 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_a_bad_edit_is_named_by_node_and_field(case, tmp_path):
    edit, message = BAD_EDITS[case]
    with pytest.raises(PlanError) as info:
        _load(tmp_path, _edited(tmp_path, edit))
    assert info.value.message == "plan 'edited.toml': " + message


def test_a_changed_nar_file_is_a_hash_mismatch(tmp_path, nixlite):
    def edit(d):
        motd = d["nodes"]["motd"]
        del motd["contents"]
        motd.update({"nar-file": "motd.nar", "nar-hash": "sha256-" + "A" * 43 + "="})
    path = _edited(tmp_path, edit)
    from nixlite.store.nar import dump_bytes

    (tmp_path / "motd.nar").write_bytes(dump_bytes(b"Welcome to a planned image.\n"))
    status, _, err = nixlite("build", "--plan", str(path), "--store", str(tmp_path / "s"), "--dry-run")
    assert status == 1
    assert err.startswith(f"error: plan '{path}': node 'motd': field 'nar-hash': hash mismatch: "
                          f"'{tmp_path / 'motd.nar'}' has sha256-")
    assert "Traceback" not in err
    (tmp_path / "motd.nar").unlink()
    status, _, err = nixlite("build", "--plan", str(path), "--store", str(tmp_path / "s"), "--dry-run")
    assert status == 1 and "node 'motd': field 'nar-file': cannot read" in err


def test_plan_errors_on_the_command_line(tmp_path, nixlite):
    (tmp_path / "bad.toml").write_text("version = 1\nnodes = [")
    status, _, err = nixlite("build", "--plan", str(tmp_path / "bad.toml"))
    assert status == 1 and err.startswith(f"error: plan '{tmp_path / 'bad.toml'}' is not valid "
                                          "TOML: ")
    (tmp_path / "latin1.toml").write_bytes(GOLDEN.read_bytes().replace(b"\n", b"\n# caf\xe9\n", 1))
    status, _, err = nixlite("build", "--plan", str(tmp_path / "latin1.toml"))
    assert (status, err) == (1, f"error: plan '{tmp_path / 'latin1.toml'}' is not UTF-8 text: "
                                "byte 0xe9 on line 2 (non-UTF-8 strings are written as "
                                "{ base64 = … })\n")
    (tmp_path / "bad.json").write_text('{"version": 1,')
    status, _, err = nixlite("build", "--plan", str(tmp_path / "bad.json"))
    assert status == 1 and err.startswith(f"error: plan '{tmp_path / 'bad.json'}' is not valid "
                                          "JSON: ")
    status, _, err = nixlite("build", "--plan", str(GOLDEN), "-A", "motd", "--store", str(tmp_path / "s"))
    assert (status, err) == (1, f"error: plan '{GOLDEN}' has no derivation node 'motd'\n")
    for extra in ([str(SMALL)], ["--rev", "HEAD"]):
        status, _, err = nixlite("build", "--plan", str(GOLDEN), *extra)
        assert status == 1 and "takes no FILE, -E, --arg, --argstr or --rev" in err


def test_build_a_plan_from_standard_input(tmp_path, nixlite, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(GOLDEN.read_bytes())))
    status, out, err = nixlite("build", "--plan", "-", "--dry-run", "--offline",
                               "--store", str(tmp_path / "s"))
    assert (status, out) == (0, ""), err
    assert err.startswith("these ") and "will be built:" in err


def test_a_plan_that_cannot_be_written(tmp_path, nixlite):
    status, _, err = nixlite("plan", str(SMALL), "--store", str(tmp_path / "s"), "-o", "no/such/dir/p.toml")
    assert (status, err) == (1, "error: cannot write the plan 'no/such/dir/p.toml': No such file or directory\n")
    assert not (tmp_path / "no").exists()


def test_build_a_node_of_the_plan(tmp_path, nixlite):
    status, out, err = nixlite("build", "--plan", str(GOLDEN), "-A", "fake-nss", "--store",
                               str(tmp_path / "s"), *NO_SUBSTITUTES)
    assert status == 0, err
    node = tomllib.loads(GOLDEN.read_text())["nodes"]["fake-nss"]
    assert _store_names(out) == _store_names(node["outputs"]["out"]["path"])
    assert (tmp_path / "result" / "etc" / "passwd").read_text().startswith("root:x:0:0:")

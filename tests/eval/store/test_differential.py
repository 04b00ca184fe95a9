"""Differential tests against nix-instantiate 2.8 on our derivation corpus (drv_corpus/).

For every corpus file: the lines `nixlite instantiate` prints equal nix-instantiate's,
and every .drv in the closure has byte-identical text in both stores.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

CORPUS = os.path.join(os.path.dirname(__file__), "drv_corpus")
FILES = sorted(f for f in os.listdir(CORPUS) if f.endswith(".nix"))
NIX = shutil.which("nix-instantiate")

pytestmark = [pytest.mark.nix, pytest.mark.skipif(NIX is None, reason="nix-instantiate not installed")]


def nix_instantiate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([NIX, *args], capture_output=True, text=True)


def nixlite(*args: str, store: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, NIXLITE_STORE=store)
    return subprocess.run([sys.executable, "-m", "nixlite", *args], capture_output=True, text=True, env=env)


def drv_closure(store, roots):
    return sorted(p for p in store.closure(roots) if p.endswith(".drv"))


@pytest.mark.parametrize("name", FILES)
def test_corpus_file(name, store):
    path = os.path.join(CORPUS, name)
    ref = nix_instantiate(path)
    if ref.returncode != 0:
        pytest.skip(f"nix-instantiate failed here: {ref.stderr.strip()[:200]}")
    ours = nixlite("instantiate", path, store=store.root)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref.stdout
    roots = [line.split("!")[0] for line in ours.stdout.split()]
    for drv in drv_closure(store, roots):
        with open(drv, "rb") as f:
            theirs = f.read()
        with open(store.physical(drv), "rb") as f:
            assert f.read() == theirs, drv


def test_attr_selection_and_args(store, tmp_path):
    f = tmp_path / "fn.nix"
    f.write_text('{ n ? "dflt", v }: { pkg = derivation { name = n; system = "x86_64-linux"; '
                 'builder = "/bin/sh"; inherit v; outputs = [ "bin" "out" ]; }; }')
    args = [str(f), "-A", "pkg", "--argstr", "n", "named", "--arg", "v", "[ 1 2 ]"]
    ref = nix_instantiate(*args)
    ours = nixlite("instantiate", *args, store=store.root)
    assert ours.stdout == ref.stdout and ours.stdout.endswith(".drv!bin\n")


@pytest.mark.parametrize("expr", [
    'derivation { name = "x"; builder = "/bin/sh"; }',
    'derivation { name = "x"; system = "s"; builder = "/bin/sh"; outputs = [ "a" "a" ]; }',
    'derivation { name = "x"; system = "s"; builder = "/bin/sh"; outputHashMode = "nar"; outputHash = ""; }',
    'derivation { name = "x"; system = "s"; builder = "/bin/sh"; outputHash = "sha256:abc"; }',
    '{ a = 1; }.b',
    '42',
])
def test_errors_agree(expr, store):
    ref = nix_instantiate("-E", expr)
    ours = nixlite("instantiate", "-E", expr, store=store.root)
    assert ref.returncode != 0 and ours.returncode == 1
    first = ref.stderr.splitlines()[0]
    assert ours.stderr.splitlines()[0] == first


EVAL_ERRORS = [
    'derivation { name = "has space"; system = "x"; builder = "/bin/sh"; }',
    'derivation { name = "${builtins.toFile "a" "b"}"; system = "x"; builder = "/bin/sh"; }',
    'builtins.toFile "bad" "${derivation { name = "a"; system = "x"; builder = "/bin/sh"; }}"',
    'builtins.appendContext "x" { "/tmp/foo" = { path = true; }; }',
    'builtins.storePath /tmp',
    'builtins.path { path = /tmp; foo = 1; }',
    'builtins.path { name = "x"; }',
    'derivation { name = "x"; system = "x"; builder = "/bin/sh"; outputHash = "sha256-AAAA"; }',
    'derivation { name = "x"; system = "x"; builder = "/bin/sh"; outputHashAlgo = "sha256"; '
    'outputHash = "sha512-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="; }',
    'derivation { name = "x"; system = "x"; builder = "/bin/sh"; __structuredAttrs = true; f = x: x; }',
    'builtins.hashFile "sha3" /dev/null',
    '"${/tmp/x.drv}"',
    'derivation { name = "x"; system = "x"; builder = "/bin/sh"; outputHash = "abc"; }',
    'derivation { name = "x"; system = "x"; builder = "/bin/sh"; __contentAddressed = true; }',
    'builtins.filterSource 1 /tmp',
    'builtins.fetchurl { url = "http://127.0.0.1:1/x"; foo = 1; }',
]


@pytest.mark.parametrize("expr", EVAL_ERRORS)
def test_eval_errors_agree(expr, store):
    wrapped = f"let v = ({expr}); in if builtins.isAttrs v && v ? drvPath then v.drvPath else v"
    ref = nix_instantiate("--eval", "--strict", "-E", wrapped)
    ours = nixlite("eval", "--strict", "-E", wrapped, store=store.root)
    assert ref.returncode != 0 and ours.returncode == 1
    assert ours.stderr.splitlines()[0] == ref.stderr.splitlines()[0]


def nix_string(s: str) -> str:
    """A Nix string literal for s (control characters other than \\n \\r \\t stay raw)."""
    out = []
    for c in s:
        out.append({"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c, c))
    return '"' + "".join(out) + '"'


def test_random_env_strings_agree(store, tmp_path):
    """ATerm escaping and env key order on random strings, in one nix-instantiate call."""
    import random

    rng = random.Random(20261127)
    alphabet = ['"', "\\", "\n", "\r", "\t", "$", "{", "}", "\x01", "\x1f", "\x7f", " ", "é", "✓",
                "😀", "a", "Z", "_", "0", "-", "."]
    reserved = {"args", "builder", "system", "name", "outputs", "outputHash", "outputHashAlgo",
                "outputHashMode", "__structuredAttrs", "__ignoreNulls", "__contentAddressed",
                "__impure", "out"}
    drvs = []
    for i in range(40):
        env = {}
        for _ in range(rng.randint(0, 6)):
            key = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
            if key not in reserved:
                env[key] = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        args = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10))) for _ in range(3)]
        attrs = " ".join(f"{nix_string(k)} = {nix_string(v)};" for k, v in env.items())
        drvs.append(f'(derivation {{ name = "r{i}"; system = "x86_64-linux"; '
                    f'builder = {nix_string("/bin/" + args[0])}; '
                    f'args = [ {" ".join(nix_string(a) for a in args)} ]; {attrs} }})')
    f = tmp_path / "random.nix"
    f.write_text("[\n" + "\n".join(drvs) + "\n]\n", encoding="utf-8")
    ref = nix_instantiate(str(f))
    assert ref.returncode == 0, ref.stderr
    ours = nixlite("instantiate", str(f), store=store.root)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref.stdout
    for drv in ours.stdout.split():
        assert open(store.physical(drv), "rb").read() == open(drv, "rb").read()


def test_inputs_read_back_from_the_store(store, tmp_path):
    """A later process depends on .drv files it did not create: they are parsed from the
    store and hashed modulo (output and deep contexts added with appendContext)."""
    first = ('let fod = derivation { name = "fod"; system = "x86_64-linux"; builder = "/bin/sh"; '
             'outputHash = "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="; }; in '
             'derivation { name = "base"; system = "x86_64-linux"; builder = "/bin/sh"; '
             'outputs = [ "out" "dev" ]; inherit fod; }')
    ref = nix_instantiate("-E", first)
    ours = nixlite("instantiate", "-E", first, store=store.root)
    assert ours.stdout == ref.stdout
    base = ours.stdout.strip()
    second = (f'derivation {{ name = "later"; system = "x86_64-linux"; builder = "/bin/sh"; '
              f'dev = builtins.appendContext "dev" {{ "{base}" = {{ outputs = [ "dev" ]; }}; }}; '
              f'all = builtins.appendContext "all" {{ "{base}" = {{ allOutputs = true; }}; }}; }}')
    ref2 = nix_instantiate("-E", second)
    ours2 = nixlite("instantiate", "-E", second, store=store.root)
    assert ours2.returncode == 0, ours2.stderr
    assert ours2.stdout == ref2.stdout
    drv = ours2.stdout.strip()
    assert open(store.physical(drv), "rb").read() == open(drv, "rb").read()


def test_concurrent_instantiations(store):
    """Two nixlite processes instantiating the same closure at once: both succeed, the
    store stays valid and holds one copy of each .drv."""
    path = os.path.join(CORPUS, "chain.nix")
    env = dict(os.environ, NIXLITE_STORE=store.root)
    procs = [subprocess.Popen([sys.executable, "-m", "nixlite", "instantiate", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]
    assert store.verify() == []
    drvs = [p for p in store.all_valid_paths() if p.endswith(".drv")]
    assert len(drvs) == len(set(drvs)) == 67  # 61 chain steps, 5 fixed-output leaves, top
    assert sorted(os.listdir(store.real_dir)) == sorted(os.path.basename(p) for p in store.all_valid_paths())


@pytest.mark.parametrize("expr", [
    'let d = derivation { name = "x"; builder = "/bin/sh"; }; in d.outPath',
    'let d = derivation {\n  name = "x";\n  system = "s";\n  builder = "/bin/sh";\n'
    '  outputs = [ "out" "out" ];\n}; in d.outPath',
])
def test_derivation_error_positions_agree(expr, store):
    """Errors about the derivation as a whole point at its `name`, as in Nix."""
    ref = nix_instantiate("--eval", "--strict", "-E", expr)
    ours = nixlite("eval", "--strict", "-E", expr, store=store.root)
    assert ours.stderr == ref.stderr


def test_show_derivation_agrees(store):
    """`nixlite store show-derivation` gives the JSON of `nix show-derivation` (2.8)."""
    path = os.path.join(CORPUS, "fixed-outputs.nix")
    ours = nixlite("instantiate", path, store=store.root)
    drvs = ours.stdout.split()
    ref = subprocess.run(["nix", "--extra-experimental-features", "nix-command", "show-derivation", *drvs],
                         capture_output=True, text=True)
    if ref.returncode != 0:
        pytest.skip(f"nix show-derivation failed: {ref.stderr[:200]}")
    mine = nixlite("store", "--store", store.root, "show-derivation", *drvs, store=store.root)
    assert json.loads(mine.stdout) == json.loads(ref.stdout)

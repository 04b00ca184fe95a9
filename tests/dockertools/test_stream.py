"""streamLayeredImage / buildLayeredImage steps against upstream: the layering (popularity and
maxLayers cut) against a direct re-implementation of upstream's closure-graph script and the
seed's jq cut, the streamed archive against the stream script's reference driver run with the
store mounted at /nix/store, the compressed archive against pigz -nT, and the result accepted
by skopeo and umoci with a command that runs in the unpacked root."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from stepkit import add_tree, needs_store_mount, realise, run_in, run_with_store, unpack
from test_build_image import toJSON
from test_layering import upstream_cut, upstream_order

STREAM_MTIME = 1
CREATED = "1970-01-01T00:00:01+00:00"
BUSYBOX = "/bin/busybox"


def _static(path: str) -> bool:
    """An ELF executable without a program interpreter (PT_INTERP) runs in an empty root."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return head[:4] == b"\x7fELF" and b"/ld-linux" not in head and b"ld-musl" not in head


needs_busybox = pytest.mark.skipif(not _static(BUSYBOX),
                                   reason="needs a static /bin/busybox (Debian package busybox-static)")


@pytest.fixture
def pkgs(store, tmp_path):
    libc = add_tree(store, tmp_path, "glibc-2.33", {"lib/libc.so.6": b"\x7fELF libc"})
    zlib = add_tree(store, tmp_path, "zlib-1.2", {"lib/libz.so": f"{libc}".encode()}, refs=[libc])
    hello = add_tree(store, tmp_path, "hello-2.10", {
        "bin/hello": ("exec", f"{libc} {zlib}".encode()), "share/b/x": b"1", "share/b-c/x": b"2",
        "share/b.d/x": b"3"}, refs=[libc, zlib])
    tools = add_tree(store, tmp_path, "tools-1", {"bin/tool": ("exec", f"{libc}".encode())},
                     refs=[libc])
    return {"libc": libc, "zlib": zlib, "hello": hello, "tools": tools}


@pytest.fixture
def layer_calls(monkeypatch) -> list[tuple]:
    """The store paths of every layer the stream step tars, in order (one tuple a layer)."""
    import nixlite.image.steps.stream as stream_step

    calls: list[tuple] = []
    real = stream_step.store_layer_chunks

    def counting(paths, **options):
        calls.append(tuple(paths))
        return real(paths, **options)

    monkeypatch.setattr(stream_step, "store_layer_chunks", counting)
    return calls


def stream_layered(store, name, contents, config, *, max_layers=100, tag=None, from_image=None,
                   extra="", fake_root="", compressor=None):
    base = toJSON({"architecture": "amd64", "config": config, "os": "linux"})
    custom = realise(store, "nixlite-customisation-layer", f"{name}-customisation-layer",
                     {"contents": contents, "extraCommands": extra, "fakeRootCommands": fake_root})
    conf = realise(store, "nixlite-stream-conf", f"{name}-conf.json", {
        "name": name, "tag": tag, "fromImage": from_image, "contents": contents,
        "baseJson": base, "maxLayers": max_layers, "customisationLayer": custom,
        "created": "1970-01-01T00:00:01Z"})
    script = realise(store, "nixlite-stream-script", f"stream-{name}", {"name": name, "conf": conf})
    archive = realise(store, "nixlite-layered-archive", f"{name}.tar.gz",
                      {"conf": conf, "compressor": compressor})
    return {"custom": custom, "conf": conf, "script": script, "archive": archive, "base": base}


def graph_of_closure(store, roots_of_root, base_refs):
    """The seed's exportReferencesGraph of the overallClosure file, as closure-graph.py gets it."""
    root, base = "/nix/store/" + "0" * 32 + "-closure", "/nix/store/" + "1" * 32 + "-base.json"
    graph = [{"path": root, "references": [base, *roots_of_root]},
             {"path": base, "references": base_refs}]
    for p in sorted(store.closure(roots_of_root + base_refs)):
        graph.append({"path": p, "references": sorted(store.references(p) | {p})})
    return graph, (root, base)


def run_stream(script_physical: str) -> bytes:
    proc = subprocess.run([script_physical], capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


REFERENCE = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
from image_upstream_reference import reference_stream_image
spec = json.load(open(sys.argv[2]))
data, _ = reference_stream_image(spec["layers"], spec["custom"], spec["extra"],
                                 created=spec["created"], mtime=spec["mtime"],
                                 repo_tag=spec["tag"], from_image=spec["from_image"])
sys.stdout.buffer.write(data)
'''


def reference_stream(store, tmp_path, conf, from_image=None) -> bytes:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({
        "layers": conf["store_layers"], "custom": conf["customisation_layer"],
        "extra": {"architecture": conf["architecture"], "config": conf["config"]},
        "created": CREATED, "mtime": STREAM_MTIME, "tag": conf["repo_tag"],
        "from_image": from_image}))
    (tmp_path / "ref.py").write_text(REFERENCE)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = run_with_store(store, f"{sys.executable} ref.py {here}/image {spec}", cwd=tmp_path,
                          env={})
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@needs_store_mount
@pytest.mark.parametrize("max_layers", [100, 4, 2])
def test_stream_equals_the_upstream_stream_script(store, tmp_path, pkgs, max_layers):
    config = {"Cmd": [f"{pkgs['hello']}/bin/hello"], "Env": ["PATH=/bin"]}
    out = stream_layered(store, "Hello", [pkgs["hello"], pkgs["tools"]], config,
                         max_layers=max_layers)
    conf = json.loads(open(store.physical(out["conf"])).read())
    graph, virtual = graph_of_closure(store, [pkgs["hello"], pkgs["tools"]], [pkgs["hello"]])
    order = [p for p in upstream_order(graph) if p not in virtual]
    assert conf["store_layers"] == upstream_cut(order, max_layers - 1)
    assert conf["repo_tag"] == "Hello:" + os.path.basename(out["conf"]).split("-")[0]
    assert conf["created"] == CREATED
    streamed = run_stream(store.physical(out["script"]))
    assert streamed == reference_stream(store, tmp_path, conf)
    gz = subprocess.run(["pigz", "-nT"], input=streamed, capture_output=True, check=True).stdout
    assert open(store.physical(out["archive"]), "rb").read() == gz


@needs_store_mount
def test_stream_on_a_base_image(store, tmp_path, pkgs):
    base = stream_layered(store, "base", [pkgs["tools"]], {"Env": ["A=1"]}, tag="v1")
    top = stream_layered(store, "top", [pkgs["hello"]], {"Env": ["B=2"]},
                         from_image=base["archive"], max_layers=6)
    conf = json.loads(open(store.physical(top["conf"])).read())
    assert conf["from_image"] == base["archive"]
    streamed = run_stream(store.physical(top["script"]))
    # the reference reads a plain archive; the stream itself reads the gzipped one
    plain = tmp_path / "base.tar"
    plain.write_bytes(run_stream(store.physical(base["script"])))
    expected = reference_stream(store, tmp_path, conf, from_image=str(plain))
    assert streamed == expected


def test_customisation_layer_owners_and_tar(store, tmp_path, pkgs):
    """symlinkJoin tree (files as absolute links, real directories), extraCommands and
    fakeRootCommands run; the tar is GNU tar's --sort name --numeric-owner of it."""
    out = stream_layered(store, "custom", [pkgs["hello"], pkgs["tools"]], {},
                         extra="mkdir -p tmp data && chmod 1777 tmp && echo x > data/f",
                         fake_root="chown 1000:100 data/f && chmod 0600 data/f")
    tar = store.physical(out["custom"] + "/layer.tar")
    listing = subprocess.run(["tar", "--numeric-owner", "-tvf", tar], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    entries = {line.split()[-1] if "->" not in line else line.split()[-3]: line for line in listing}
    assert entries["./bin/hello"].startswith("lrwxrwxrwx 0/0")
    assert entries["./bin/hello"].endswith(f"-> {pkgs['hello']}/bin/hello")
    assert entries["./bin/tool"].endswith(f"-> {pkgs['tools']}/bin/tool")
    assert entries["./tmp/"].startswith("drwxrwxrwt 0/0")
    if os.geteuid() == 0:
        assert entries["./data/f"].startswith("-rw------- 1000/100")
    checksum = open(store.physical(out["custom"] + "/checksum")).read()
    assert checksum == hashlib.sha256(open(tar, "rb").read()).hexdigest() + "\n"
    assert all(" 1980-01-01 00:00 " in line for line in listing)


def static_busybox_pkg(store, tmp_path):
    return add_tree(store, tmp_path, "busybox-static", {
        "bin/busybox": ("exec", open(BUSYBOX, "rb").read()), "bin/sh": ("link", "busybox"),
        "bin/cat": ("link", "busybox"), "bin/echo": ("link", "busybox")})


@needs_busybox
@pytest.mark.skipif(not shutil.which("skopeo") or not shutil.which("umoci"),
                    reason="skopeo and umoci are needed")
def test_layered_image_loads_unpacks_and_runs(store, tmp_path):
    busybox = static_busybox_pkg(store, tmp_path)
    etc = add_tree(store, tmp_path, "etc", {"etc/os-release": b"ID=nixlite\n"})
    out = stream_layered(store, "demo", [busybox, etc],
                         {"Cmd": ["/bin/sh", "-c", "echo hello from $(cat /etc/os-release)"],
                          "Env": ["PATH=/bin"], "WorkingDir": "/"}, tag="v1")
    archive = tmp_path / "demo.tar"  # docker load takes the .tar.gz; skopeo wants it plain
    archive.write_bytes(subprocess.run(["pigz", "-dc", store.physical(out["archive"])],
                                       capture_output=True, check=True).stdout)
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"],
                                     capture_output=True, check=True).stdout)
    assert info["Architecture"] == "amd64" and info["Env"] == ["PATH=/bin"]
    assert len(info["Layers"]) == 3
    rootfs, config = unpack(archive, tmp_path, "v1")
    assert os.readlink(rootfs / "bin" / "sh") == "busybox"  # lndir copies a link's text
    assert os.readlink(rootfs / "bin" / "busybox") == f"{busybox}/bin/busybox"
    assert (rootfs / busybox.lstrip("/") / "bin" / "busybox").stat().st_mode & 0o777 == 0o555
    assert (rootfs / "nix" / "store").stat().st_mode & 0o777 == 0o555
    assert config["process"]["args"][0] == "/bin/sh"
    assert run_in(rootfs, config["process"]["args"]) == "hello from ID=nixlite\n"
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=False)


def test_rebuild_streams_unchanged_layers_once(store, tmp_path, pkgs, layer_calls):
    """Layers are cached by content: after one package changes, a rebuild of the archive
    streams each unchanged store layer once (into the archive), not twice; a poisoned cache
    entry cannot slip through (the declared digest is verified while streaming)."""
    import nixlite.image.steps.stream as stream_step
    from nixlite.build.native import StepFailed

    first = stream_layered(store, "app", [pkgs["hello"], pkgs["tools"]], {}, tag="v1")
    cold = list(layer_calls)
    assert cold and all(cold.count(p) == 2 for p in cold)
    layer_calls.clear()
    tools2 = add_tree(store, tmp_path, "tools-1", {"bin/tool": ("exec", b"changed")})
    second = stream_layered(store, "app", [pkgs["hello"], tools2], {}, tag="v1")
    assert second["archive"] != first["archive"]
    assert layer_calls.count((tools2,)) == 2
    assert all(layer_calls.count(p) == 1 for p in layer_calls if p != (tools2,))
    gz = subprocess.run(["pigz", "-nT"], input=run_stream(store.physical(second["script"])),
                        capture_output=True, check=True).stdout
    assert open(store.physical(second["archive"]), "rb").read() == gz

    poisoned = stream_step.LayerCache(store)
    options = {"mtime": 1, "uid": 0, "gid": 0, "uname": "root", "gname": "root"}
    poisoned.put(poisoned.key([pkgs["libc"]], options), "sha256:" + "0" * 64, 10240)
    with pytest.raises(StepFailed, match="expected sha256:0000"):
        stream_layered(store, "app2", [pkgs["libc"]], {}, tag="v1")


def test_uncompressed_rebuild_copies_unchanged_layers_from_the_earlier_archive(store, tmp_path, pkgs,
                                                                               layer_calls):
    """compressor = "none": an unchanged layer's bytes are copied from the earlier archive
    in the store, neither tarred nor hashed again; the archive still equals the stream
    script's bytes.  Once that archive is gone the layer is tarred again."""
    stream_layered(store, "plain", [pkgs["hello"], pkgs["tools"]], {}, tag="v1", compressor="none")
    layer_calls.clear()
    tools2 = add_tree(store, tmp_path, "tools-2", {"bin/tool": ("exec", b"changed again")})
    second = stream_layered(store, "plain", [pkgs["hello"], tools2], {}, tag="v1",
                            compressor="none")
    assert layer_calls == [(tools2,), (tools2,)]
    assert open(store.physical(second["archive"]), "rb").read() == run_stream(
        store.physical(second["script"]))

    layer_calls.clear()
    store.delete_paths([second["archive"]])
    third = stream_layered(store, "plain", [pkgs["hello"], tools2], {}, tag="v2",
                           compressor="none")
    assert (tools2,) in layer_calls and all(layer_calls.count(p) == 1 for p in layer_calls)
    assert open(store.physical(third["archive"]), "rb").read() == run_stream(
        store.physical(third["script"]))

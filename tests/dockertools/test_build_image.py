"""buildImage's steps against the seed's own shell: the ``result`` derivation's script run
with the real tar, jq, jshon, sort/comm, sha256sum and pigz over the same store (mounted at
/nix/store), with and without a base image; mkPureLayer's tar against GNU tar."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from seed_result import SEED_RESULT, needs_seed_tools
from stepkit import add_tree, needs_store_mount, realise, run_with_store

from nixlite.image.legacy import tarsum_v1

SDE = 315532800


def toJSON(value) -> str:
    """builtins.toJSON: keys sorted, compact."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def base_json(config, created="1970-01-01T00:00:01Z") -> str:
    return toJSON({"architecture": "amd64", "config": config, "created": created, "os": "linux"})


@pytest.fixture
def app(store, tmp_path):
    """A small package closure: hello (references libc), a symlinkJoin-like env over it."""
    libc = add_tree(store, tmp_path, "glibc-2.33", {"lib/libc.so.6": b"\x7fELF libc",
                                                    "lib/ld.so": ("exec", b"\x7fELF ld")})
    hello = add_tree(store, tmp_path, "hello-2.10", {
        "bin/hello": ("exec", f"#!{libc}/lib/ld.so\necho hello\n".encode()),
        "share/doc/" + "x" * 110: b"long name",
        "share/man": ("link", "doc")}, refs=[libc])
    env = add_tree(store, tmp_path, "hello-env", {
        "bin/hello": ("link", f"{hello}/bin/hello"),
        "share": ("link", f"{hello}/share"),
        "etc/os-release": b"ID=nixlite\n"}, refs=[hello])
    return {"libc": libc, "hello": hello, "env": env}


def build_image(store, name, contents, config, *, tag="latest", from_image=None, **more):
    layer = realise(store, "nixlite-docker-layer", f"docker-layer-{name}", {
        "name": name, "baseJson": base_json(config), "contents": contents,
        "extraCommands": more.pop("extraCommands", ""), "uid": 0, "gid": 0,
        "keepContentsDirlinks": more.pop("keepContentsDirlinks", False)})
    args = {"name": name, "tag": tag, "layer": layer, "fromImage": from_image, **more}
    return layer, realise(store, "nixlite-docker-image", f"docker-image-{name}.tar.gz", args)


def seed_result(store, tmp_path, layer, config, *, name, tag, from_image=None,
                from_name="", from_tag="") -> bytes:
    work = tmp_path / f"seed-{name}"
    work.mkdir()
    (work / "closure").write_text("\n".join(sorted(store.closure([layer]))) + "\n")
    (work / "base.json").write_text(base_json(config))
    proc = run_with_store(store, SEED_RESULT, cwd=work, env={
        "layer": layer, "layerClosure": str(work / "closure"), "baseJson": str(work / "base.json"),
        "fromImage": from_image or "", "fromImageName": from_name, "fromImageTag": from_tag,
        "imageName": name, "imageTag": tag, "out": str(work / "out.tar.gz")})
    assert proc.returncode == 0, proc.stderr.decode()
    data = (work / "out.tar.gz").read_bytes()
    subprocess.run(["chmod", "-R", "u+w", str(work)], check=True)
    return data


def physical_bytes(store, path) -> bytes:
    with open(store.physical(path), "rb") as f:
        return f.read()


@needs_seed_tools
@needs_store_mount
@pytest.mark.parametrize("config", [{"Cmd": ["/bin/hello"], "Env": ["PATH=/bin"]}, None])
def test_image_equals_the_seed_result(store, tmp_path, app, config):
    layer, image = build_image(store, "hello", [app["env"]], config)
    assert physical_bytes(store, image) == seed_result(store, tmp_path, layer, config,
                                                       name="hello", tag="latest")


@needs_seed_tools
@needs_store_mount
@pytest.mark.parametrize("by_tag", [False, True])
def test_image_on_a_base_image_equals_the_seed_result(store, tmp_path, app, by_tag):
    _, base = build_image(store, "base", [app["env"]], {"Env": ["A=1", "PATH=/bin"]}, tag="v1")
    extra = add_tree(store, tmp_path, "extra", {"etc/motd": b"hi\n", "bin/tool": ("exec", b"x")})
    more = {"fromImageName": "base", "fromImageTag": "v1"} if by_tag else {}
    config = {"Cmd": ["/bin/tool"], "Env": ["B=2"]}
    layer, image = build_image(store, "top", [extra], config, from_image=base, **more)
    expected = seed_result(store, tmp_path, layer, config, name="top", tag="latest",
                           from_image=base, from_name=more.get("fromImageName", ""),
                           from_tag=more.get("fromImageTag", ""))
    assert physical_bytes(store, image) == expected


@needs_store_mount
@pytest.mark.parametrize("keep_dirlinks", [False, True])
def test_pure_layer_is_gnu_tar_of_the_copied_contents(store, tmp_path, app, keep_dirlinks):
    """mkPureLayer: contents copied as rsync -ak (a link to a directory becomes it) or -aK
    (links kept), the layer root made writable, extraCommands run in it; the seed's tar."""
    layer, _ = build_image(store, "x", [app["env"]], None, keepContentsDirlinks=keep_dirlinks,
                           extraCommands="mkdir -p tmp && chmod 1777 tmp && ln -s /bin/hello hi")
    tree = tmp_path / "expected"
    tree.mkdir()
    share = (f"cp -a {app['env']}/share {tree}/share" if keep_dirlinks else
             f"cp -rL --preserve=mode {app['env']}/share {tree}/share")
    script = (f"{share} && cp -a {app['env']}/bin {app['env']}/etc {tree}/ && chmod ug+w {tree} && "
              f"cd {tree} && mkdir -p tmp && chmod 1777 tmp && ln -s /bin/hello hi && "
              f"tar -C {tree} --hard-dereference --sort=name --mtime=@{SDE} --owner=0 --group=0 "
              f"-cf {tmp_path}/expected.tar .")
    proc = run_with_store(store, script, cwd=tmp_path, env={})
    assert proc.returncode == 0, proc.stderr.decode()
    expected = (tmp_path / "expected.tar").read_bytes()
    assert physical_bytes(store, layer + "/layer.tar") == expected
    assert physical_bytes(store, layer + "/VERSION") == b"1.0"
    layer_json = json.loads(physical_bytes(store, layer + "/json"))
    assert layer_json["checksum"] == tarsum_v1([expected])
    assert list(layer_json) == ["architecture", "config", "created", "os", "checksum"]
    subprocess.run(["chmod", "-R", "u+w", str(tree)], check=True)


def test_cancelling_stops_extra_commands_promptly(store, tmp_path):
    """Ctrl-C during a build sets the context's event: a running script is killed and the
    step fails at once, leaving no output."""
    import threading

    from stepkit import context

    from nixlite.build.native import StepFailed
    from nixlite.image.steps import NATIVE_STEPS

    ctx = context(store, "docker-layer-slow", {"name": "slow", "baseJson": base_json(None),
                                               "contents": [], "extraCommands": "sleep 60"})
    os.mkdir(ctx.build_dir)
    threading.Timer(0.5, ctx.cancelled.set).start()
    with pytest.raises(StepFailed, match="interrupted"):  # (the script would succeed in 60 s)
        NATIVE_STEPS["nixlite-docker-layer"](ctx)
    assert not os.path.exists(ctx.outputs["out"])

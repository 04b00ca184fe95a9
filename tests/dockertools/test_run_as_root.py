"""buildImage with runAsRoot, without a VM: the script runs as root chrooted into the base
image's root with the contents on top (an overlay in private namespaces); its changes —
new files, modes, owners, deletions as whiteouts — are the new layer, and the image built
from it unpacks with umoci and runs."""

from __future__ import annotations

import os
import subprocess

import pytest
from stepkit import add_tree, realise, run_in, unpack
from test_build_image import base_json
from test_stream import needs_busybox, static_busybox_pkg, stream_layered

from nixlite.build.native import StepFailed


def layer_listing(store, layer) -> dict[str, str]:
    out = subprocess.run(["tar", "--numeric-owner", "-tvf", store.physical(layer + "/layer.tar")],
                         capture_output=True, text=True, check=True).stdout
    listing = {}
    for line in out.splitlines():
        fields = line.split()
        name = fields[5] if "->" not in line else fields[-3]
        listing[name.rstrip("/")] = f"{fields[0]} {fields[1]}"
    return listing


def root_layer(store, name, script, *, from_image, contents=(), busybox, disk_size=1024):
    return realise(store, "nixlite-docker-layer", f"docker-layer-{name}", {
        "name": name, "baseJson": base_json({"Cmd": ["/bin/sh"]}), "contents": list(contents),
        "runAsRoot": script, "fromImage": from_image, "shell": f"{busybox}/bin/sh",
        "path": f"{busybox}/bin", "extraCommands": "touch from-extra-commands",
        "diskSize": disk_size})


needs_namespaces = pytest.mark.skipif(
    subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0,
    reason="user and mount namespaces are unavailable")


@needs_busybox
@needs_namespaces
def test_run_as_root_changes_become_the_layer(store, tmp_path):
    busybox = static_busybox_pkg(store, tmp_path)
    etc = add_tree(store, tmp_path, "etc", {"etc/os-release": b"ID=nixlite\n",
                                            "etc/keep": b"kept\n"})
    base = stream_layered(store, "base", [busybox, etc], {"Env": ["PATH=/bin"]}, tag="v1")
    extra = add_tree(store, tmp_path, "extra", {"opt/app/run": ("exec", b"#!/bin/sh\necho app\n")})
    script = ("mkdir -p /var/lib/x && echo hi > /var/lib/x/f && chown 1000:100 /var/lib/x/f && "
              "chmod 640 /var/lib/x/f && rm /etc/os-release && ln -s /opt/app/run /usr-run && "
              f"test -x {busybox}/bin/busybox && echo \"uid=$(id -u)\" > /whoami")
    layer = root_layer(store, "rooted", script, from_image=base["archive"], contents=[extra],
                       busybox=busybox)
    listing = layer_listing(store, layer)
    assert listing["./etc/.wh.os-release"].startswith("-rw-r--r--")
    assert "./etc/keep" not in listing            # untouched lower files stay below
    assert "./opt/app/run" in listing             # contents are copied into the layer
    assert listing["./usr-run"].startswith("lrwxrwxrwx")
    assert "./from-extra-commands" in listing
    assert not any(k.startswith(("./dev", "./proc", "./sys", "./nix")) for k in listing)
    if os.geteuid() == 0:
        assert listing["./var/lib/x/f"] == "-rw-r----- 1000/100"
    image = realise(store, "nixlite-docker-image", "docker-image-rooted.tar.gz", {
        "name": "rooted", "tag": "v2", "layer": layer, "fromImage": base["archive"]})
    plain = tmp_path / "rooted.tar"
    plain.write_bytes(subprocess.run(["pigz", "-dc", store.physical(image)], capture_output=True,
                                     check=True).stdout)
    rootfs, _ = unpack(plain, tmp_path, "v2")
    assert not os.path.lexists(rootfs / "etc" / "os-release")
    assert os.readlink(rootfs / "etc" / "keep") == f"{etc}/etc/keep"  # from the base layer
    assert (rootfs / "whoami").read_text() == "uid=0\n"
    assert run_in(rootfs, ["/bin/sh", "-c", "cat /var/lib/x/f /etc/keep && /usr-run"]) == "hi\nkept\napp\n"
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=False)


@needs_busybox
@needs_namespaces
def test_a_failing_run_as_root_script_fails_the_step(store, tmp_path):
    busybox = static_busybox_pkg(store, tmp_path)
    base = stream_layered(store, "base", [busybox], {}, tag="v1")
    with pytest.raises(StepFailed, match=r"runAsRoot failed with exit code 3:\noops"):
        root_layer(store, "bad", "echo oops; exit 3", from_image=base["archive"], busybox=busybox)


@needs_busybox
@needs_namespaces
def test_run_as_root_beyond_disk_size_fails_as_a_full_vm_disk(store, tmp_path):
    """diskSize was the VM disk holding the base layers and the new one: 2 MiB written on a
    1 MiB disk fails the build and says by how much; within it, the same script passes."""
    busybox = static_busybox_pkg(store, tmp_path)
    base = stream_layered(store, "base", [busybox], {}, tag="v1")
    script = "head -c 2097152 /dev/zero > /big"
    busybox_mib = os.path.getsize(store.physical(f"{busybox}/bin/busybox")) / (1 << 20)
    with pytest.raises(StepFailed, match=r"runAsRoot needs (\d+\.\d) MiB of disk .*, more than "
                                         r"diskSize = 1 MiB; raise diskSize") as failed:
        root_layer(store, "full", script, from_image=base["archive"], busybox=busybox, disk_size=1)
    assert float(failed.value.args[0].split("needs ")[1].split(" MiB")[0]) == \
        pytest.approx(2 + busybox_mib, abs=0.1)
    layer = root_layer(store, "fits", script, from_image=base["archive"], busybox=busybox,
                       disk_size=64)
    assert layer_listing(store, layer)["./big"].startswith("-rw-r--r--")
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path)], check=False)

"""Details of the skopeo-identical docker-archive writer."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from nixlite.cli import main
from nixlite.image.jsonstyle import go_compact
from nixlite.image.skopeo_archive import _file_headers, legacy_layer_configs, write_skopeo_archive
from nixlite.image.model import Image, Layer, bytes_source
from imagekit import docker_archive, layer_tar
from regkit import load, needs_tools, skopeo


def test_go_compact_keeps_spelling_and_escapes_html():
    raw = '{ "a" : [1.50, 2e3, -0],\n "s": "<b>&\\u00e9 ü \\" }", "t":"\u2028" }'
    assert go_compact(raw) == ('{"a":[1.50,2e3,-0],"s":"\\u003cb\\u003e\\u0026\\u00e9 ü \\" }",'
                               '"t":"\\u2028"}')


def test_legacy_ids_chain_and_top_fields():
    ids = ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
    config = b'{"os":"linux","config":{"Env":["A=<"]},"architecture":"arm64","os":"plan9"}'
    (bottom, bottom_json), (top, top_json) = legacy_layer_configs(config, ids)
    assert json.loads(bottom_json) == {"id": bottom}
    chain = "sha256:" + hashlib.sha256(f"{ids[0]} {ids[1]}".encode()).hexdigest()
    expected_top = (f'{{"architecture":"arm64","config":{{"Env":["A=\\u003c"]}},"container":null,'
                    f'"container_config":null,"created":null,"docker_version":null,'
                    f'"layer_id":"{chain}","os":"plan9","parent":"{bottom}"}}')
    assert top == hashlib.sha256(expected_top.encode()).hexdigest()
    # "id" sorts where "layer_id" was
    assert top_json == expected_top.replace(f'"layer_id":"{chain}"', f'"id":"{top}"').encode()


def test_large_member_gets_a_pax_size_record():
    size = 8 ** 11 + 5
    headers = _file_headers("a" * 64 + ".tar", size)
    assert len(headers) == 3 * 512
    pax = tarfile.TarInfo.frombuf(headers[:512], "utf-8", "strict")
    assert pax.type == tarfile.XHDTYPE and pax.name == "PaxHeaders.0/" + "a" * 64 + ".tar"
    assert headers[512:512 + pax.size] == f"19 size={size}\n".encode()
    main_header = tarfile.TarInfo.frombuf(headers[1024:], "utf-8", "strict")
    assert main_header.name == "a" * 64 + ".tar" and main_header.size == 0


def test_compressed_layers_are_decompressed(tmp_path):
    tar = layer_tar([("f", b"data" * 1000)])
    layer = Layer.from_tar(bytes_source(tar), compression="gzip")
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}}).encode()
    out = io.BytesIO()
    write_skopeo_archive(Image(config, [layer]), out, [("docker.io/library/a", "b")],
                         spool_dir=str(tmp_path))
    data = out.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        assert archive.extractfile(layer.diff_id[7:] + ".tar").read() == tar
    assert list(tmp_path.iterdir()) == []
    assert len(data) % 512 == 0 and data.endswith(b"\0" * 1024)


@needs_tools
def test_unusual_config_spelling_is_byte_identical_to_skopeo(registry, tmp_path):
    layer = layer_tar([("x", b"x")])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = ('{\n  "os" : "linux",  "architecture":"amd64",\n'
              '  "config": {"Labels": {"é": "ü <tag> & \\u00e9", "n": "1"}, "Env": null,\n'
              '    "StopSignal": "SIGTERM", "Memory": 1.50e3},\n'
              '  "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) x"]},\n'
              '  "docker_version": "20.10.7", "container": "abc",\n'
              f'  "rootfs": {{"diff_ids": ["{diff_id}"], "type": "layers"}},\n'
              '  "created": "2021-01-01T00:00:00.123456789Z"\n}\n').encode()
    load(docker_archive(tmp_path / "u.tar", [layer], config), registry.host, "test/unusual:1")
    expected = tmp_path / "skopeo.tar"
    skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/test/unusual:1",
           f"docker-archive:{expected}:unusual:1")
    out = tmp_path / "nixlite.tar"
    assert main(["image", "pull", f"docker://{registry.host}/test/unusual:1", "-o", str(out),
                 "--tag", "unusual:1", "--tls-verify=false", "-q"]) == 0
    assert out.read_bytes() == expected.read_bytes()

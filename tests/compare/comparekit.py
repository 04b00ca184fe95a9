"""Helpers for the compare tests (pytest's importlib mode cannot import conftest by name)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from imagekit import diff_id, tar_of

HERE = Path(__file__).parent
FIXTURES = HERE.parent.parent / "fixtures" / "dockertools"
SCHEMA = HERE.parent.parent / "nixlite" / "compare" / "schema.json"
BASE_CONFIG = {
    "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
    "config": {"Env": ["PATH=/bin", "LANG=C"], "Cmd": ["/bin/sh"], "WorkingDir": "/",
               "Labels": {"org.example.a": "1"}},
}


def write_archive(path: Path, layers: list[bytes], name: str = "test:v1", **config) -> Path:
    """A docker-archive written by nixlite's writer: ``layers`` (tars), the base config
    updated with ``config`` (``config_X`` keys update the inner ``config``)."""
    from nixlite.image.model import Image, Layer, bytes_source
    from nixlite.image.transports import name_and_tag, parse_location, write_image

    document = json.loads(json.dumps(BASE_CONFIG))
    for key, value in config.items():
        if key.startswith("config_"):
            document["config"][key[len("config_"):]] = value
        else:
            document[key] = value
    document["rootfs"] = {"type": "layers", "diff_ids": [diff_id(layer) for layer in layers]}
    document.setdefault("history", [{"created": document["created"], "created_by": f"layer {i}"}
                                    for i in range(len(layers))])
    image = Image.from_config(document, [Layer.from_tar(bytes_source(t)) for t in layers],
                              style="go")
    write_image(image, parse_location(str(path), output=True), name=name_and_tag(name))
    return path


def files_layer(*entries) -> bytes:
    """A layer tar of ``(name, kind, payload[, attrs])`` with mtime 1 unless given."""
    return tar_of(*[(n, k, p, {"mtime": 1, **(rest[0] if rest else {})})
                    for n, k, p, *rest in entries])



def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", "--insecure-policy", *args], check=True, capture_output=True,
                   timeout=120)


def validate(document, schema=None, root=None):
    """Check ``document`` against schema.json (the JSON Schema keywords it uses, no more);
    a failure names where it is."""
    if schema is None:
        schema = root = json.loads(SCHEMA.read_text())
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    if "oneOf" in schema:
        passing = 0
        for option in schema["oneOf"]:
            try:
                validate(document, option, root)
                passing += 1
            except AssertionError:
                pass
        assert passing == 1, f"{document!r:.200} matches {passing} of oneOf"
        return
    if "const" in schema:
        assert document == schema["const"], document
    if "enum" in schema:
        assert document in schema["enum"], document
    kinds = schema.get("type")
    if kinds is not None:
        python = {"string": str, "integer": int, "boolean": bool, "null": type(None),
                  "array": list, "object": dict}
        kinds = [kinds] if isinstance(kinds, str) else kinds
        assert any(type(document) is python[k] for k in kinds), (document, kinds)
    if isinstance(document, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            assert name in document, f"missing {name} in {document!r:.200}"
        for name, value in document.items():
            if name in properties:
                validate(value, properties[name], root)
            elif schema.get("additionalProperties") is False:
                raise AssertionError(f"unexpected field {name}")
            elif isinstance(schema.get("additionalProperties"), dict):
                validate(value, schema["additionalProperties"], root)
    if isinstance(document, list) and "items" in schema:
        for item in document:
            validate(item, schema["items"], root)

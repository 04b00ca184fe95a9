"""Image fixtures built with Python's own tarfile and json — independent of nixlite's writers,
so they can check its readers: layer tars, image configs and docker-archive files."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

_KINDS = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}


def tar_of(*entries) -> bytes:
    """A pax tar of ``(name, kind, payload[, attrs])`` entries: kind file (payload: bytes),
    dir, symlink or hardlink (payload: the target); ``attrs`` sets TarInfo fields."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload, *attrs in entries:
            info = tarfile.TarInfo(name)
            for key, value in (attrs[0] if attrs else {}).items():
                setattr(info, key, value)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = _KINDS[kind]
            info.linkname = payload or ""
            tar.addfile(info)
    return out.getvalue()


def layer_tar(files: list[tuple[str, bytes]], *, symlinks=(), mode=0o644) -> bytes:
    """A layer with its parent directories (0755) first, files (mtime 1), then symlinks."""
    dirs = sorted({"/".join(n.split("/")[:i]) for n, _ in files for i in range(1, n.count("/") + 1)})
    return tar_of(*[(d, "dir", None, {"mode": 0o755}) for d in dirs],
                  *[(n, "file", data, {"mode": mode, "mtime": 1}) for n, data in files],
                  *[(n, "symlink", target) for n, target in symlinks])


def diff_id(layer: bytes) -> str:
    return "sha256:" + hashlib.sha256(layer).hexdigest()


def image_config(layers: list[bytes], *, arch="amd64", os_="linux", variant=None, extra=None) -> bytes:
    config = {"architecture": arch, "os": os_}
    if variant:
        config["variant"] = variant
    config.update({"config": {"Env": ["PATH=/bin", "X=<&>"], "Cmd": ["/bin/hello"],
                              "Labels": {"org.example": "yes"}},
                   "created": "2021-03-04T05:06:07Z",
                   "rootfs": {"type": "layers", "diff_ids": [diff_id(l) for l in layers]},
                   "history": [{"created": "2021-03-04T05:06:07Z", "created_by": "test"}
                               for _ in layers]})
    if extra:
        config.update(extra)
    return json.dumps(config, indent=2).encode()


def tar_file(path, members: list[tuple[str, bytes]], links: dict[str, str] | None = None) -> Path:
    """A tar file of ``(name, data)`` members and then ``links`` (name → symlink target)."""
    path = Path(path)
    path.write_bytes(tar_of(*[(name, "file", data) for name, data in members],
                            *[(name, "symlink", target) for name, target in (links or {}).items()]))
    return path


def docker_archive(path, layers: list[bytes], config: bytes, repo_tags=None) -> Path:
    """A minimal docker-archive (spec §7): config, layers, manifest.json."""
    names = [f"layer{i}.tar" for i in range(len(layers))]
    manifest = json.dumps([{"Config": "config.json", "RepoTags": repo_tags, "Layers": names}])
    return tar_file(path, [("config.json", config), *zip(names, layers),
                           ("manifest.json", manifest.encode())])

"""Real components for registry tests: Debian's distribution registry on 127.0.0.1, an
auth/fault-injecting proxy in front of it, and small images built by hand and loaded with skopeo.
The helpers live in ``regkit`` (pytest's importlib mode cannot import conftest by name).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from imagekit import docker_archive, image_config, layer_tar  # noqa: E402
from regkit import (  # noqa: E402
    LIST, OCI_INDEX, OCI_MANIFEST, PLATFORMS, REGISTRY_BIN, SCHEMA2, Proxy, Registry,
    bcrypt_hash, get_manifest, load, put_manifest, self_signed_cert, session_registry, skopeo,
)


registry = pytest.fixture(scope="session", name="registry")(session_registry)

@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory):
    """A registry requiring htpasswd Basic auth (user ``alice``, password ``s3cret``)."""
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("docker-registry is not installed")
    hashed = bcrypt_hash("s3cret")
    if hashed is None:
        pytest.skip("no bcrypt available to write an htpasswd file")
    root = tmp_path_factory.mktemp("basic-registry")
    htpasswd = root / "htpasswd"
    htpasswd.write_text(f"alice:{hashed}\n")
    reg = Registry(root, htpasswd)
    reg.start()
    yield reg
    reg.stop()

@pytest.fixture
def proxy(registry):
    p = Proxy(registry.host)
    yield p
    p.close()

@pytest.fixture(autouse=True)
def isolated_credentials(tmp_path_factory, monkeypatch):
    """No credentials from the real user's files leak into a test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return home

@pytest.fixture(scope="session")
def images(registry, tmp_path_factory):
    """Images in the session registry:
    ``test/simple:v1`` (two layers, a symlink, a duplicated layer),
    ``test/multi:latest`` (docker manifest list over amd64, arm64/v8, arm/v7),
    ``test/multioci:latest`` (OCI index with an attestation entry, OCI manifests)."""
    work = tmp_path_factory.mktemp("images")
    base = layer_tar([("etc/os-release", b"ID=nixlite\n"), ("bin/hello", b"#!/bin/sh\necho hi\n")],
                     symlinks=[("bin/hi", "hello")])
    app = layer_tar([("app/data.bin", os.urandom(300_000))])
    layers = [base, app, base]
    archive = docker_archive(work / "simple.tar", layers, image_config(layers))
    load(archive, registry.host, "test/simple:v1")

    for repo, fmt, index_type, manifest_type in (("test/multi", "v2s2", LIST, SCHEMA2),
                                                 ("test/multioci", "oci", OCI_INDEX, OCI_MANIFEST)):
        entries = []
        if repo == "test/multioci":
            entries.append(None)  # the attestation entry goes first: it must be skipped
        for arch, variant in PLATFORMS:
            lay = [layer_tar([("arch", f"{arch}{variant or ''}\n".encode())])]
            path = docker_archive(work / f"{repo.replace('/', '_')}-{arch}.tar", lay,
                                  image_config(lay, arch=arch, variant=variant))
            skopeo("copy", "-q", "--dest-tls-verify=false", f"--format={fmt}",
                   f"docker-archive:{path}", f"docker://{registry.host}/{repo}:{arch}")
            body = get_manifest(registry.host, repo, arch, manifest_type)
            platform = {"architecture": arch, "os": "linux"}
            if variant:
                platform["variant"] = variant
            entries.append({"mediaType": manifest_type, "size": len(body),
                            "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
                            "platform": platform})
        if entries[0] is None:
            entries[0] = dict(entries[1], platform={"architecture": "unknown", "os": "unknown"},
                              annotations={"vnd.docker.reference.type": "attestation-manifest"})
        index = json.dumps({"schemaVersion": 2, "mediaType": index_type,
                            "manifests": entries}).encode()
        put_manifest(registry.host, repo, "latest", index, index_type)
    return registry


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory):
    """A registry serving HTTPS with a self-signed certificate (``registry.tls[0]``)."""
    if not os.path.exists(REGISTRY_BIN) or not shutil.which("openssl"):
        pytest.skip("docker-registry and openssl are needed")
    root = tmp_path_factory.mktemp("tls-registry")
    reg = Registry(root, tls=self_signed_cert(root))
    reg.start()
    yield reg
    reg.stop()

"""Reference normalisation and WWW-Authenticate parsing (pure functions)."""

from __future__ import annotations

import pytest

from nixlite.errors import NixliteError
from nixlite.image.registry.auth import parse_challenges
from nixlite.image.registry.reference import parse_reference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text,name,tag,digest,api_host", [
    ("nix", "docker.io/library/nix", "latest", None, "registry-1.docker.io"),
    ("nixos/nix:2.3", "docker.io/nixos/nix", "2.3", None, "registry-1.docker.io"),
    ("docker://nix:2.2.1", "docker.io/library/nix", "2.2.1", None, "registry-1.docker.io"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox", "latest", None,
     "registry-1.docker.io"),
    ("localhost/app", "localhost/app", "latest", None, "localhost"),
    ("localhost:5000/a/b/c:t-1.0", "localhost:5000/a/b/c", "t-1.0", None, "localhost:5000"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x", "latest", None, "127.0.0.1:5000"),
    ("ghcr.io/o/r@" + D, "ghcr.io/o/r", None, D, "ghcr.io"),
    ("ghcr.io/o/r:v1@" + D, "ghcr.io/o/r", "v1", D, "ghcr.io"),
    ("a__b/c.d-e", "docker.io/a__b/c.d-e", "latest", None, "registry-1.docker.io"),
])
def test_parse_reference(text, name, tag, digest, api_host):
    ref = parse_reference(text)
    assert (ref.name, ref.tag, ref.digest, ref.api_host) == (name, tag, digest, api_host)
    assert ref.ref == (digest or tag)


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("Nix", "lower-case"),
    ("nix:bad tag", "bad tag"),
    ("nix@sha256:123", "bad digest"),
    ("a//b", "bad path component"),
    ("-a/b", "bad path component"),
    ("nix:" + "x" * 129, "bad tag"),
])
def test_bad_references(text, fragment):
    with pytest.raises(NixliteError) as err:
        parse_reference(text)
    assert fragment in err.value.message


def test_challenges():
    [c] = parse_challenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/nix:pull"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                        "scope": "repository:library/nix:pull"}
    [c] = parse_challenges('Basic realm="x y"')
    assert (c.scheme, c.params) == ("basic", {"realm": "x y"})
    cs = parse_challenges('Basic realm=r, Bearer realm="a\\"b",error="invalid_token"')
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert cs[1].params["realm"] == 'a"b'

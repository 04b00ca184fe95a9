"""Authentication, retries and connection failures, through real sockets."""

from __future__ import annotations

import base64
import json
import os

import pytest

from nixlite.cli import main
from nixlite.errors import NixliteError
from nixlite.image.registry import parse_reference
from nixlite.image.registry.auth import find_credentials
from nixlite.image.registry.client import RegistryClient
from nixlite.image.registry.pull import pull
from regkit import needs_tools, skopeo

pytestmark = needs_tools


def write_docker_config(home, host: str, user: str, password: str) -> None:
    cfg = os.environ["DOCKER_CONFIG"]
    os.makedirs(cfg, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    with open(os.path.join(cfg, "config.json"), "w") as f:
        json.dump({"auths": {f"http://{host}": {"auth": auth}}}, f)


def pull_ok(host: str, dest) -> int:
    return main(["image", "pull", f"docker://{host}/test/simple:v1", "-o", str(dest),
                 "--tls-verify=false", "-q", "--tag", "simple:v1"])


def test_bearer_token_with_credentials_from_docker_config(images, proxy, tmp_path,
                                                          isolated_credentials, capsys):
    proxy.require_bearer = True
    proxy.users = {"bob": "hunter2"}
    dest = tmp_path / "x.tar"
    assert pull_ok(proxy.host, dest) == 1
    assert "authentication" in capsys.readouterr().err and not dest.exists()

    write_docker_config(isolated_credentials, proxy.host, "bob", "wrong")
    assert pull_ok(proxy.host, dest) == 1
    assert "credentials were rejected" in capsys.readouterr().err

    write_docker_config(isolated_credentials, proxy.host, "bob", "hunter2")
    proxy.token_requests.clear()
    assert pull_ok(proxy.host, dest) == 0
    # one token for the repository scope, reused for the manifest and every blob
    assert len(proxy.token_requests) == 1
    assert "scope=repository%3Atest%2Fsimple%3Apull" in proxy.token_requests[0]
    assert "service=test-registry" in proxy.token_requests[0]
    # the image is the same as the one pulled directly
    direct = tmp_path / "direct.tar"
    assert pull_ok(images.host, direct) == 0
    assert dest.read_bytes() == direct.read_bytes()


def test_anonymous_bearer_token(images, proxy, tmp_path):
    proxy.require_bearer = True
    assert pull_ok(proxy.host, tmp_path / "x.tar") == 0
    assert proxy.token_requests


def test_registry_auth_file_wins_over_docker_config(isolated_credentials, monkeypatch, tmp_path):
    write_docker_config(isolated_credentials, "reg.example:5000", "docker", "a")
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"auths": {
        "reg.example:5000": {"auth": base64.b64encode(b"podman:b").decode()},
        "reg.example:5000/team/app": {"auth": base64.b64encode(b"team:c").decode()}}}))
    assert find_credentials("reg.example:5000", "x/y").username == "docker"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    assert find_credentials("reg.example:5000", "x/y").username == "podman"
    assert find_credentials("reg.example:5000", "team/app").username == "team"
    assert find_credentials("other.example", "x/y") is None


def test_docker_hub_config_key(isolated_credentials):
    write_docker_config(isolated_credentials, "index.docker.io/v1/", "hub", "pw")
    creds = find_credentials("docker.io", "library/nix")
    assert (creds.username, creds.password) == ("hub", "pw")


def test_credential_helper(isolated_credentials, monkeypatch, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-fake"
    helper.write_text('#!/bin/sh\nread host\necho "{\\"Username\\":\\"u-$host\\",\\"Secret\\":\\"s\\"}"\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    cfg = os.environ["DOCKER_CONFIG"]
    os.makedirs(cfg, exist_ok=True)
    with open(os.path.join(cfg, "config.json"), "w") as f:
        json.dump({"credHelpers": {"reg.example": "fake"}}, f)
    assert find_credentials("reg.example", "a/b").username == "u-reg.example"


def test_basic_auth_with_htpasswd_registry(basic_registry, tmp_path, monkeypatch, capsys):
    from imagekit import docker_archive, image_config, layer_tar

    layer = layer_tar([("basic", b"auth\n")])
    archive = docker_archive(tmp_path / "b.tar", [layer], image_config([layer]))
    skopeo("copy", "-q", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret",
           f"docker-archive:{archive}", f"docker://{basic_registry.host}/priv/app:1")
    dest = tmp_path / "out.tar"
    ref = f"docker://{basic_registry.host}/priv/app:1"
    assert main(["image", "pull", ref, "-o", str(dest), "--tls-verify=false", "-q"]) == 1
    assert "user name and password" in capsys.readouterr().err
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"auths": {basic_registry.host: {
        "auth": base64.b64encode(b"alice:s3cret").decode()}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    assert main(["image", "pull", ref, "-o", str(dest), "--tls-verify=false", "-q"]) == 0
    expected = tmp_path / "skopeo.tar"
    skopeo("copy", "-q", "--src-tls-verify=false", "--src-creds", "alice:s3cret", ref,
           f"docker-archive:{expected}:{basic_registry.host}/priv/app:1")
    assert dest.read_bytes() == expected.read_bytes()
    monkeypatch.delenv("REGISTRY_AUTH_FILE")
    dest.unlink()
    assert main(["image", "pull", ref, "-o", str(dest), "--tls-verify=false", "-q",
                 "--authfile", str(auth_file)]) == 0
    dest.unlink()  # an existing archive is never replaced, as in skopeo
    assert main(["image", "pull", ref, "-o", str(dest), "--tls-verify=false", "-q",
                 "--creds", "alice:wrong"]) == 1
    assert "password rejected" in capsys.readouterr().err
    assert main(["image", "pull", ref, "-o", str(dest), "--tls-verify=false", "-q",
                 "--creds", "alice:s3cret"]) == 0
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(auth_file))
    # push with the same credentials, then read it back with skopeo
    copy = f"docker://{basic_registry.host}/priv/copy:2"
    assert main(["image", "push", str(archive), copy, "--tls-verify=false", "-q"]) == 0
    info = json.loads(skopeo("inspect", "--tls-verify=false", "--creds", "alice:s3cret", copy).stdout)
    assert len(info["Layers"]) == 1


def test_transient_5xx_is_retried(images, proxy, tmp_path):
    proxy.fail_first = 3
    proxy.fail_match = "/blobs/"
    ref = parse_reference(f"{proxy.host}/test/simple:v1")
    client = RegistryClient(ref.api_host, tls_verify=False, retries=4, retry_delay=0.01)
    pulled = pull(client, ref)
    try:
        assert len(pulled.image.layers) == 3
    finally:
        pulled.cleanup()
    assert [s for _, p, s in proxy.log if "/blobs/" in p].count(503) == 3
    assert client.stats["retries"] == 3


def test_persistent_5xx_gives_up_with_a_clear_error(images, proxy, tmp_path):
    proxy.fail_first = 100
    proxy.fail_match = "/manifests/"
    ref = parse_reference(f"{proxy.host}/test/simple:v1")
    client = RegistryClient(ref.api_host, tls_verify=False, retries=2, retry_delay=0.01)
    with pytest.raises(NixliteError) as err:
        pull(client, ref, workdir_parent=str(tmp_path))
    assert "after 3 attempts" in err.value.message and "UNAVAILABLE" in err.value.message
    assert os.listdir(tmp_path) == []


def test_connection_cut_mid_blob_restarts_the_download(images, proxy, tmp_path):
    proxy.cut_blob = 2
    ref = parse_reference(f"{proxy.host}/test/simple:v1")
    client = RegistryClient(ref.api_host, tls_verify=False, retries=3, retry_delay=0.01)
    pulled = pull(client, ref, max_workers=1)
    try:
        assert [layer.diff_id for layer in pulled.image.layers] == pulled.image.diff_ids
    finally:
        pulled.cleanup()
    assert [s for _, _, s in proxy.log].count(-1) == 2
    assert client.stats["retries"] == 2


def test_cli_retry_flag(images, proxy, tmp_path):
    proxy.fail_first = 1
    proxy.fail_match = "/manifests/"
    dest = tmp_path / "x.tar"
    assert main(["image", "pull", f"docker://{proxy.host}/test/simple:v1", "-o", str(dest),
                 "--tls-verify=false", "--retry-times", "1", "-q"]) == 0
    assert dest.exists()


def test_unreachable_registry(tmp_path, capsys):
    from regkit import free_port

    port = free_port()
    dest = tmp_path / "x.tar"
    assert main(["image", "pull", f"docker://127.0.0.1:{port}/a/b:c", "-o", str(dest),
                 "--tls-verify=false", "--retry-times", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"127.0.0.1:{port}" in err
    assert not dest.exists()


def test_client_for_docker_hub_uses_the_api_host():
    from nixlite.image.transports import RegistryAccess

    client = RegistryAccess().client(parse_reference("nix"))
    assert client.host == "registry-1.docker.io" and client.tls_verify


def test_tls_is_verified_by_default(tls_registry, tmp_path, monkeypatch, capsys):
    from imagekit import docker_archive, image_config, layer_tar

    layer = layer_tar([("tls", b"secure\n")])
    archive = docker_archive(tmp_path / "t.tar", [layer], image_config([layer]))
    skopeo("copy", "-q", "--dest-tls-verify=false", f"docker-archive:{archive}",
           f"docker://{tls_registry.host}/tls/app:1")
    ref = f"docker://{tls_registry.host}/tls/app:1"
    dest = tmp_path / "out.tar"
    assert main(["image", "pull", ref, "-o", str(dest), "--retry-times", "0"]) == 1
    err = capsys.readouterr().err
    assert "not trusted" in err and "--tls-verify=false" in err and not dest.exists()
    # the opt-out speaks (unverified) HTTPS to an HTTPS registry
    assert main(["image", "pull", ref, "-o", str(dest), "--tls-verify=false", "-q"]) == 0
    dest.unlink()
    # trusting the certificate makes the default work
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.tls[0]))
    assert main(["image", "pull", ref, "-o", str(dest), "-q"]) == 0
    expected = tmp_path / "skopeo.tar"
    skopeo("copy", "-q", "--src-tls-verify=false", ref, f"docker-archive:{expected}:{tls_registry.host}/tls/app:1")
    assert dest.read_bytes() == expected.read_bytes()


def test_blob_redirects_are_followed_without_credentials(images, proxy, tmp_path):
    proxy.require_bearer = True
    proxy.redirect_blobs = True
    dest = tmp_path / "x.tar"
    assert pull_ok(proxy.host, dest) == 0
    # config + two distinct layers, each fetched from the other "host" without the token
    assert proxy.redirected_auth == [False, False, False]
    direct = tmp_path / "direct.tar"
    assert pull_ok(images.host, direct) == 0
    assert dest.read_bytes() == direct.read_bytes()

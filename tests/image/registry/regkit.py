"""Helpers for the registry tests (imported by conftest and the tests)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REGISTRY_BIN = "/usr/bin/docker-registry"
needs_tools = pytest.mark.skipif(
    not (os.path.exists(REGISTRY_BIN) and shutil.which("skopeo")),
    reason="docker-registry and skopeo are needed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A running ``docker-registry serve`` with its own storage directory."""

    def __init__(self, root: Path, htpasswd: Path | None = None, tls: tuple[Path, Path] | None = None):
        self.tls = tls
        self.root = root
        self.storage = root / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.htpasswd = htpasswd
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        for _ in range(5):
            self.port = free_port()
            auth = ""
            if self.htpasswd:
                auth = (f"auth:\n  htpasswd:\n    realm: nixlite-test\n"
                        f"    path: {self.htpasswd}\n")
            tls = ""
            if self.tls:
                tls = (f"  tls:\n    certificate: {self.tls[0]}\n    key: {self.tls[1]}\n")
            config = (
                "version: 0.1\n"
                "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
                "  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{self.port}\n" + tls + auth +
                # foreign layers (descriptors with urls) may point at local test servers
                "validation:\n  manifests:\n    urls:\n      allow:\n"
                "        - '^http://127\\.0\\.0\\.1:'\n")
            cfg = self.root / "config.yml"
            cfg.write_text(config)
            log = open(self.root / "registry.log", "ab")
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL)
            log.close()
            for _ in range(200):
                if self.proc.poll() is not None:
                    break
                try:
                    if self.tls:
                        import ssl
                        conn = http.client.HTTPSConnection(
                            self.host, timeout=2, context=ssl._create_unverified_context())
                    else:
                        conn = http.client.HTTPConnection(self.host, timeout=2)
                    conn.request("GET", "/v2/")
                    status = conn.getresponse().status
                    conn.close()
                    if status in (200, 401):
                        return
                except OSError:
                    pass
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"docker-registry did not start: {(self.root / 'registry.log').read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def blob_path(self, digest: str) -> Path:
        hexpart = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def session_registry(tmp_path_factory):
    """A registry on 127.0.0.1 for a whole test session (wrap it in a session fixture);
    skips where Debian's docker-registry is not installed."""
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("docker-registry is not installed")
    reg = Registry(tmp_path_factory.mktemp("registry"))
    reg.start()
    yield reg
    reg.stop()


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with the openssl command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def bcrypt_hash(password: str) -> str | None:
    """A bcrypt hash from libxcrypt via the (deprecated, 3.11/3.12-only) crypt module."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            return None
    if crypt.METHOD_BLOWFISH not in crypt.methods:
        return None
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


# --- a proxy in front of the registry: bearer-token auth and fault injection --------------------
class Proxy:
    """Forwards to ``upstream`` (keeping the Host header, so the registry's Location URLs
    point back at the proxy).  Optionally it demands bearer tokens issued by its own realm
    ``/token`` (Basic credentials checked there), answers 503 to the first ``fail_first``
    requests matching ``fail_match``, or cuts a blob body short once (``cut_blob``)."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.log: list[tuple[str, str, int]] = []
        self.token_requests: list[str] = []
        self.users: dict[str, str] | None = None
        self.require_bearer = False
        self.fail_first = 0
        self.fail_match = ""
        self.cut_blob = 0
        self.redirect_blobs = False
        self.redirected_auth: list[bool] = []
        self.tokens: set[str] = set()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, headers=(), body=b""):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                with proxy.lock:
                    proxy.log.append((self.command, self.path, status))

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/token"):
                    return self._token()
                if self.path.startswith("/redirected/"):  # "another host" (same server)
                    with proxy.lock:
                        proxy.redirected_auth.append("Authorization" in self.headers)
                    self.path = self.path[len("/redirected"):]
                    return self._forward(body)
                if proxy.redirect_blobs and self.command == "GET" and "/blobs/" in self.path:
                    return self._send(307, [("Location", f"http://localhost:{proxy.port}"
                                                         f"/redirected{self.path}")])
                with proxy.lock:
                    fail = proxy.fail_first > 0 and proxy.fail_match in f"{self.command} {self.path}"
                    if fail:
                        proxy.fail_first -= 1
                if fail:
                    return self._send(503, [("Content-Type", "application/json")],
                                      b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
                if proxy.require_bearer:
                    auth = self.headers.get("Authorization", "")
                    if not (auth.startswith("Bearer ") and auth[7:] in proxy.tokens):
                        host = self.headers["Host"]
                        challenge = (f'Bearer realm="http://{host}/token",service="test-registry"')
                        repo = self.path.split("/")[2:4] if self.path.count("/") > 3 else None
                        if repo and self.path != "/v2/":
                            path = self.path[4:]
                            name = path.split("/manifests/")[0].split("/blobs/")[0].split("/tags/")[0]
                            challenge += f',scope="repository:{name}:pull"'
                        return self._send(401, [("WWW-Authenticate", challenge),
                                                ("Content-Type", "application/json")],
                                          b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
                return self._forward(body)

            def _forward(self, body):
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                with proxy.lock:
                    cut = proxy.cut_blob > 0 and self.command == "GET" and "/blobs/" in self.path \
                        and len(data) > 100
                    if cut:
                        proxy.cut_blob -= 1
                if cut:  # promise the full body, send half, drop the connection
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    with proxy.lock:
                        proxy.log.append((self.command, self.path, -1))
                    return
                hdrs = [(k, v) for k, v in resp.getheaders()
                        if k.lower() not in ("content-length", "connection", "transfer-encoding")]
                self._send(resp.status, hdrs, data)

            def _token(self):
                with proxy.lock:
                    proxy.token_requests.append(self.path)
                auth = self.headers.get("Authorization", "")
                if proxy.users is not None:
                    ok = False
                    if auth.startswith("Basic "):
                        user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                        ok = proxy.users.get(user) == pw
                    if not ok:
                        return self._send(401, [("Content-Type", "application/json")],
                                          b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                token = hashlib.sha256(os.urandom(16)).hexdigest()
                with proxy.lock:
                    proxy.tokens.add(token)
                self._send(200, [("Content-Type", "application/json")],
                           json.dumps({"token": token, "expires_in": 300}).encode())

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def skopeo(*args: str, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True,
                          text=True, check=check, timeout=120)


def load(archive: Path, registry_host: str, name: str) -> None:
    skopeo("copy", "-q", "--dest-tls-verify=false", f"docker-archive:{archive}",
           f"docker://{registry_host}/{name}")


def put_manifest(host: str, repo: str, ref: str, body: bytes, media_type: str) -> None:
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("PUT", f"/v2/{repo}/manifests/{ref}", body=body,
                 headers={"Content-Type": media_type})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    assert resp.status == 201, data


def put_blob(host: str, repo: str, data: bytes) -> str:
    """Upload a blob with a monolithic POST+PUT; returns its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("POST", f"/v2/{repo}/blobs/uploads/")
    resp = conn.getresponse()
    resp.read()
    location = resp.headers["Location"]
    conn.request("PUT", location + ("&" if "?" in location else "?") + f"digest={digest}", body=data)
    status = conn.getresponse().status
    conn.close()
    assert status == 201, status
    return digest


def get_manifest(host: str, repo: str, ref: str, accept: str) -> bytes:
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    assert resp.status == 200, data
    return data


SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

PLATFORMS = [("amd64", None), ("arm64", "v8"), ("arm", "v7")]


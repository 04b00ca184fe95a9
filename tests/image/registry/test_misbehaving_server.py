"""Pulls against a registry that misbehaves on purpose: it cuts blobs short, stalls, trickles,
asks to retry later or answers with terminal escapes.  nixlite must retry where that makes
sense, then fail with one ``error:`` line, stop promptly on Ctrl-C and SIGTERM, and leave no
temporary behind (or one the next run clears, after ``kill -9``).

The server is our own, on 127.0.0.1; every wait in it is bounded, every nixlite run is a
subprocess with a timeout, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading

import pytest

from imagekit import image_config, layer_tar
from nixlite.image.files import TEMP_SUFFIX
from nixlite.image.registry.client import RegistryClient
from nixlite.image.registry.pull import pull
from nixlite.image.registry.reference import parse_reference

BOUND = 20  # seconds any stalling in the server may last at most
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class BadRegistry:
    """Serves one image (``bad/img:1``, ``layers`` gzip layers) and misbehaves on layer blobs as
    ``mode`` says: 'ok', 'cut' (half the body, then close), 'stall' (half, then wait),
    'silent' (no answer), 'trickle' (a byte at a time), 'trickle-headers', 'retry-after'
    (429 with ``retry_after`` once per blob), 'hostile' (a 400 full of terminal escapes)."""

    def __init__(self, mode: str, retry_after: str = "1", layers: int = 2) -> None:
        self.mode = mode
        self.retry_after = retry_after
        self.release = threading.Event()  # ends every stall at once
        self.blob_requested = threading.Event()
        self.stall_expired = False  # a stall ended by its bound: the client waited it out
        self.blob_requests = 0
        self.asked_to_wait: set[str] = set()
        layers = [layer_tar([(f"f{i}", os.urandom(200_000))]) for i in range(layers)]
        self.blobs = {}
        descs = []
        for layer in layers:
            blob = gzip.compress(layer, mtime=0)
            self.blobs[_digest(blob)] = blob
            descs.append({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                          "size": len(blob), "digest": _digest(blob)})
        self.layer_digests = set(self.blobs)
        config = image_config(layers)
        self.blobs[_digest(config)] = config
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": SCHEMA2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(config), "digest": _digest(config)},
            "layers": descs}).encode()
        registry = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                try:
                    while registry._serve_one(self.rfile, self.connection):
                        pass
                except OSError:
                    pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.ref = f"docker://{self.host}/bad/img:1"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _serve_one(self, rfile, conn: socket.socket) -> bool:
        line = rfile.readline(8192)
        if not line.startswith((b"GET ", b"HEAD ")):
            return False  # end of connection, or the client probing for TLS
        while rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass
        path = line.split()[1].decode()
        if path == "/v2/":
            return self._send(conn, 200, b"{}")
        if "/manifests/" in path:
            return self._send(conn, 200, self.manifest, SCHEMA2)
        digest = path.rsplit("/", 1)[-1]
        body = self.blobs.get(digest)
        if body is None:
            return self._send(conn, 404, b"{}")
        if digest not in self.layer_digests or self.mode == "ok":
            return self._send(conn, 200, body)
        self.blob_requests += 1
        self.blob_requested.set()
        head = (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        if self.mode == "retry-after":
            if digest in self.asked_to_wait:
                return self._send(conn, 200, body)
            self.asked_to_wait.add(digest)
            return self._send(conn, 429, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}',
                              extra=f"Retry-After: {self.retry_after}\r\n")
        if self.mode == "hostile":
            evil = (b"\x1b]0;pwned\x07\x1b[2J\x1b[31m" + b"A" * 4000)
            return self._send(conn, 400, evil)
        if self.mode == "silent":
            self.release.wait(BOUND)
            return False
        if self.mode == "trickle-headers":
            for byte in head:
                conn.sendall(bytes([byte]))
                if self.release.wait(0.2):
                    return False
            return False
        conn.sendall(head)
        if self.mode == "trickle":
            for byte in body:
                conn.sendall(bytes([byte]))
                if self.release.wait(0.2):
                    return False
            return False
        conn.sendall(body[:len(body) // 2])
        if self.mode == "stall" and not self.release.wait(BOUND):
            self.stall_expired = True
        return False  # 'cut' and 'stall' end by closing the connection

    @staticmethod
    def _send(conn, status: int, body: bytes, ctype: str = "application/json",
              extra: str = "") -> bool:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}
        conn.sendall(f"HTTP/1.1 {status} {reason[status]}\r\nContent-Length: {len(body)}\r\n"
                     f"Content-Type: {ctype}\r\n{extra}\r\n".encode() + body)
        return True


@pytest.fixture
def bad_registry(request):
    server = BadRegistry(*request.param) if hasattr(request, "param") else None
    yield server
    if server is not None:
        server.close()


def nixlite_process(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nixlite", "image", *argv],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def run_nixlite(*argv: str) -> tuple[int, str]:
    proc = nixlite_process(*argv)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode()


def leftovers(directory) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("bad_registry, flags, message", [
    (("cut",), ["--retry-times", "2"],
     "downloading blob sha256:{}… failed after 3 attempts: reading blob"),
    (("silent",), ["--retry-times", "1", "--timeout", "0.5"],
     "no complete response headers within 0.5 s"),
    (("trickle",), ["--retry-times", "0", "--timeout", "0.5"],
     "the transfer stalled (under 1024 bytes in 0.5 s)"),
    (("trickle-headers",), ["--retry-times", "0", "--timeout", "0.5"],
     "no complete response headers within 0.5 s"),
], indirect=["bad_registry"], ids=["cut", "silent", "trickle", "trickle-headers"])
def test_a_blob_that_never_arrives_is_an_error_not_a_hang(bad_registry, flags, message, tmp_path):
    code, err = run_nixlite("pull", bad_registry.ref, "-o", str(tmp_path / "x.tar"),
                            "--tls-verify=false", "-q", *flags)
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    prefix, _, rest = message.partition("{}…")
    assert prefix in err and rest in err, err
    assert leftovers(tmp_path) == []
    attempts = 1 + int(flags[1])
    assert 1 <= bad_registry.blob_requests <= 2 * attempts  # two layers, in parallel


@pytest.mark.parametrize("bad_registry", [("hostile",)], indirect=True)
def test_what_a_server_says_is_quoted_and_cut(bad_registry, tmp_path):
    code, err = run_nixlite("pull", bad_registry.ref, "-o", str(tmp_path / "x.tar"),
                            "--tls-verify=false", "--retry-times", "0")
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "\x1b" not in err and "\x07" not in err and len(err) < 500, err
    assert "\\x1b]0;pwned\\x07" in err and "…" in err


@pytest.mark.parametrize("bad_registry", [("retry-after", "120"), ("retry-after", "0"),
                                          ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
                         indirect=True, ids=["capped", "now", "a-date-past"])
def test_retry_after_is_honoured_up_to_a_cap(bad_registry, tmp_path):
    ref = parse_reference(bad_registry.ref)
    client = RegistryClient(ref.api_host, tls_verify=False, retries=2, retry_delay=5,
                            max_retry_after=0.25)
    with pull(client, ref, workdir_parent=str(tmp_path)) as pulled:
        assert len(pulled.image.layers) == 2
    # each of the two layers waited what the server asked, up to the cap, not the backoff
    expected = 0.25 if bad_registry.retry_after == "120" else 0.0
    assert client.stats["retries"] == 2 and client.stats["waited"] == 2 * expected
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("bad_registry", [("stall",), ("stall", "", 1)], indirect=True,
                         ids=["in-threads", "in-the-main-thread"])
@pytest.mark.parametrize("output", ["x.tar", "oci:layout"])
def test_interrupting_a_stalled_pull_stops_it_and_leaves_nothing(bad_registry, signum, output,
                                                                 tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dest = f"oci:{out / 'layout'}" if output.startswith("oci:") else str(out / output)
    proc = nixlite_process("pull", bad_registry.ref, "-o", dest, "--tls-verify=false")
    assert bad_registry.blob_requested.wait(BOUND)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=2 * BOUND)
    assert not bad_registry.stall_expired  # it stopped at once, not when the server gave up
    assert proc.returncode == 130, err
    assert err.decode().endswith("error: interrupted by the user\n"), err
    assert leftovers(out) == []


@pytest.mark.parametrize("bad_registry", [("stall",)], indirect=True)
def test_temporaries_of_a_killed_convert_are_cleared_by_the_next_run(bad_registry, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = nixlite_process("convert", bad_registry.ref, str(out / "layout"), "--tls-verify=false")
    assert bad_registry.blob_requested.wait(BOUND)
    proc.kill()
    proc.wait(BOUND)
    stale = [n for n in os.listdir(out) if n.endswith(TEMP_SUFFIX)]
    assert len(stale) == 1 and stale[0].startswith(".nixlite-pull."), stale
    # a temporary whose owner is alive (it holds the lock) is left alone
    alive = out / f".busy.x{TEMP_SUFFIX}"
    alive.write_bytes(b"")
    with open(alive, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        bad_registry.mode = "ok"
        code, err = run_nixlite("convert", bad_registry.ref, str(out / "layout"),
                                "--tls-verify=false", "-q")
        assert code == 0, err
        assert leftovers(out) == [alive.name, "layout"]


@pytest.mark.parametrize("bad_registry", [("stall",)], indirect=True)
def test_interrupting_a_push_that_streams_from_a_stalled_registry(bad_registry, registry):
    """The layers stream from the source registry into the upload: Ctrl-C must stop the
    reads from the source too, not only the uploads."""
    proc = nixlite_process("push", bad_registry.ref, f"docker://{registry.host}/stalled/x:1",
                           "--tls-verify=false")
    assert bad_registry.blob_requested.wait(BOUND)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=2 * BOUND)
    assert not bad_registry.stall_expired
    assert proc.returncode == 130 and err.endswith(b"error: interrupted by the user\n"), err

"""A loopback HTTP binary cache for the tests: GET/HEAD/PUT over a directory, with faults.

``CacheServer(root)`` serves ``root`` on 127.0.0.1 (HTTP/1.1, keep-alive) from
daemon threads.  Faults are set per request path suffix: ``fail[suffix] = 500``
answers with that status, ``hang`` holds matching requests until the server
stops (bounded by ``HANG_LIMIT``), ``auth = "user:password"`` requires basic
credentials.  ``requests`` records ``(method, path)`` for assertions.  ``tls=(certfile,
keyfile)`` serves HTTPS instead (``self_signed_cert`` makes a pair for 127.0.0.1).
"""

from __future__ import annotations

import base64
import http.server
import os
import threading

HANG_LIMIT = 30  # seconds; a hung request never outlives a test by more


class CacheServer:
    def __init__(self, root: str, tls: tuple[str, str] | None = None) -> None:
        self.root = root
        self.fail: dict[str, int] = {}
        self.hang: set[str] = set()
        self.auth: str | None = None
        self.requests: list[tuple[str, str]] = []
        self._release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, *args) -> None:
                pass

            def _fault(self) -> bool:
                server.requests.append((self.command, self.path))
                if server.auth is not None:
                    want = "Basic " + base64.b64encode(server.auth.encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self._reply(401, b"")
                        return True
                for suffix in server.hang:
                    if self.path.endswith(suffix):
                        server._release.wait(HANG_LIMIT)
                        self.close_connection = True
                        return True
                for suffix, status in server.fail.items():
                    if self.path.endswith(suffix):
                        self._reply(status, b"simulated failure\n")
                        return True
                return False

            def _reply(self, status: int, body: bytes, head: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _file(self) -> str:
                return os.path.join(server.root, self.path.lstrip("/").split("?")[0])

            def do_GET(self, head: bool = False) -> None:
                if self._fault():
                    return
                try:
                    with open(self._file(), "rb") as f:
                        body = f.read()
                except OSError:
                    self._reply(404, b"")
                    return
                self._reply(200, body, head)

            def do_HEAD(self) -> None:
                self.do_GET(head=True)

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self._fault():
                    return
                dest = self._file()
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with open(dest + ".part", "wb") as f:
                    f.write(body)
                os.replace(dest + ".part", dest)
                self._reply(201, b"")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "CacheServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


def self_signed_cert(directory: str) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by its own key: ``(cert.pem, key.pem)``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_file, key_file


if __name__ == "__main__":
    # ``python cache_server.py DIR``: serve DIR until killed, printing the URL first (for bench/)
    import sys

    with CacheServer(sys.argv[1]) as srv:
        print(srv.url, flush=True)
        threading.Event().wait()

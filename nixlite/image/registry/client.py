"""An HTTP client for one registry (distribution API v2), standard library only.

Why our own: requests/urllib3 are not dependencies, and urllib lacks keep-alive.  Each thread
keeps one ``http.client`` connection per origin, so parallel blob transfers reuse sockets.

* TLS is verified by default; ``tls_verify=False`` allows an unverified https registry and
  falls back to plain http when the server does not speak TLS (what skopeo does).
* Authentication follows the server's ``WWW-Authenticate`` challenge: bearer tokens (fetched
  from the realm per repository scope, with Basic credentials if the config files hold some)
  or Basic.  Tokens are cached per scope; a later 401 renews them.
* Transient failures — connection errors, 429 and 5xx — are retried with exponential backoff
  (a server's ``Retry-After`` is honoured up to ``max_retry_after`` seconds); blob downloads
  restart from scratch, so nothing half-received is ever kept.
* Nothing waits forever: a connection that sends nothing, or less than ``LOW_SPEED`` bytes,
  for ``timeout`` seconds — while connecting, in the response headers or in a body — is a
  transient failure.  ``cancel()`` (on Ctrl-C) shuts every open connection down at once, so
  threads blocked in a read return promptly.
* Redirects are followed for reads; the Authorization header is not sent to another host.
* Whatever a server sends that ends up in an error message is quoted and cut short
  (``quote_remote``): a hostile registry cannot write terminal escapes to the user's screen.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from nixlite.errors import NixliteError
from nixlite.image.files import exact_length
from nixlite.image.files import printable as quote_remote
from nixlite.image.registry.auth import (Challenge, Credentials, check_auth_file, find_credentials,
                                         parse_challenges)
from nixlite.image.threads import start_worker

READ_SIZE = 1 << 20
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_TIMEOUT = 30.0  # containers/image's dial timeout; here also for headers and stalls
LOW_SPEED = 1024  # bytes a transfer must move per timeout window to count as alive
MAX_RETRY_AFTER = 60.0


def _describe(e: BaseException) -> str:
    """An exception from the HTTP or socket layer, without the raw bytes some carry."""
    if isinstance(e, TimeoutError):  # socket.timeout is TimeoutError too
        return str(e) if e.args and isinstance(e.args[0], str) and e.args[0] != "timed out" \
            else "timed out"
    text = str(e) or type(e).__name__
    return quote_remote(text)


class RegistryError(NixliteError):
    """A registry answered with an error (``status`` holds the HTTP status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(RegistryError):
    """A failure worth retrying (connection lost, 5xx); retried where the request can be
    repeated, shown as is where it cannot.  ``retry_after``: what the server asked for."""

    def __init__(self, message: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class Cancelled(RegistryError):
    """The client was cancelled (the user interrupted the program): never retried."""


class Response:
    """A response whose body may still be unread; read it fully (or ``close``) before the
    connection is used again.  Reading gives up on a body that stalls (see the module
    docstring)."""

    __slots__ = ("status", "headers", "_raw", "_conn_drop", "url", "_window")

    def __init__(self, raw: http.client.HTTPResponse, url: str, conn_drop: Callable[[], None],
                 window: float) -> None:
        self.status = raw.status
        self.headers = raw.headers
        self._raw = raw
        self._conn_drop = conn_drop
        self.url = url
        self._window = window

    def read(self, limit: int = 64 << 20) -> bytes:
        data = bytearray()
        for block in self.chunks():
            data += block
            if len(data) > limit:
                self.close()
                raise NixliteError(f"response from {quote_remote(self.url)} is larger than "
                                   f"{limit} bytes")
        return bytes(data)

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives; a connection lost or stalled is a ``TransientError``."""
        window_start, window_bytes = time.monotonic(), 0
        while True:
            try:
                block = self._raw.read1(READ_SIZE)
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise TransientError(f"reading {quote_remote(self.url)}: {_describe(e)}") from None
            if not block:
                self._raw.read()  # read1 leaves a finished response open: mark it done
                return
            window_bytes += len(block)
            now = time.monotonic()
            if now - window_start >= self._window:
                if window_bytes < LOW_SPEED:
                    self.close()
                    raise TransientError(f"reading {quote_remote(self.url)}: the transfer "
                                         f"stalled (under {LOW_SPEED} bytes in "
                                         f"{self._window:g} s)")
                window_start, window_bytes = now, 0
            yield block

    def close(self) -> None:
        self._raw.close()
        self._conn_drop()


def _error_text(status: int, body: bytes) -> str:
    """The registry's ``{"errors":[{"code","message","detail"}]}`` as one line."""
    try:
        errors = json.loads(body)["errors"]
        parts = []
        for e in errors[:4]:
            text = f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
            parts.append(quote_remote(text, 120))
        if parts:
            return "; ".join(parts)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        pass
    snippet = quote_remote(body.strip(), 120)
    return f"HTTP {status}" + (f" ({snippet})" if snippet else "")


class RegistryClient:
    """Talks to one registry host (``host[:port]``, the API host, not ``docker.io``).
    ``credentials``: explicit ``Credentials``, False for none, True (default) to look them
    up in the auth files (or only ``auth_file``) under ``name_for_credentials``."""

    def __init__(self, host: str, *, tls_verify: bool = True, retries: int = 4,
                 retry_delay: float = 0.5, timeout: float = DEFAULT_TIMEOUT,
                 max_retry_after: float = MAX_RETRY_AFTER,
                 credentials: Credentials | None | bool = True, name_for_credentials: str | None = None,
                 auth_file: str | None = None):
        self.host = host
        self.tls_verify = tls_verify
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.max_retry_after = max_retry_after
        self._open: set[http.client.HTTPConnection] = set()  # every thread's, for cancel()
        self._cancelled = threading.Event()
        self._creds_arg = credentials
        self._creds_host = name_for_credentials or host
        self._auth_file = auth_file
        self._creds_cache: dict[str, Credentials | None] = {}
        self._scheme: str | None = None if not tls_verify else "https"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._scheme_lock = threading.Lock()
        self._ctx: ssl.SSLContext | None = None
        self._challenge: Challenge | None = None
        self._tokens: dict[str, str] = {}
        self.stats = {"requests": 0, "retries": 0, "waited": 0.0}
        if auth_file is not None and credentials is True:
            check_auth_file(auth_file)  # a bad file is an error now, not at the first 401

    def cancel(self) -> None:
        """Stop: every open connection is shut down (threads blocked reading one get an
        error at once) and no request is sent or retried any more."""
        self._cancelled.set()
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            _shut(conn)

    # connections ----------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        """One context per client (loading the CA store costs tens of milliseconds)."""
        with self._lock:
            if self._ctx is None:
                if self.tls_verify:
                    self._ctx = ssl.create_default_context()
                else:
                    self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    self._ctx.check_hostname = False
                    self._ctx.verify_mode = ssl.CERT_NONE
            return self._ctx

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get((scheme, netloc))
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout,
                                                   context=self._ssl_context())
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            conns[(scheme, netloc)] = conn
            with self._lock:
                self._open.add(conn)
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        conns = getattr(self._local, "conns", {})
        conn = conns.pop((scheme, netloc), None)
        if conn is not None:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def _get_response(self, conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
        """``conn.getresponse()``, but a server trickling its status line and headers is
        cut off after ``timeout`` seconds (the socket timeout bounds each read only)."""
        answered, expired = threading.Event(), threading.Event()

        def watch() -> None:
            if not answered.wait(self.timeout):
                expired.set()
                _shut(conn)

        start_worker(watch, name="nixlite-headers")
        try:
            return conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            if (expired.is_set() or isinstance(e, TimeoutError)) and not self._cancelled.is_set():
                raise TimeoutError(f"no complete response headers within {self.timeout:g} s") \
                    from None
            raise
        finally:
            answered.set()

    def _base_scheme(self) -> str:
        """https, or for ``tls_verify=False`` whichever of https/http the server speaks."""
        if self._scheme is not None:
            return self._scheme
        with self._scheme_lock:
            if self._scheme is None:
                conn = http.client.HTTPSConnection(self.host, timeout=min(self.timeout, 10),
                                                   context=self._ssl_context())
                try:
                    conn.request("GET", "/v2/")
                    conn.getresponse().read()
                    self._scheme = "https"
                except ssl.SSLError:
                    self._scheme = "http"
                except (OSError, http.client.HTTPException) as e:
                    raise RegistryError(f"cannot reach registry {self.host}: {_describe(e)}") \
                        from None
                finally:
                    conn.close()
        return self._scheme

    # credentials and tokens -------------------------------------------------------------
    def _credentials(self, repository: str) -> Credentials | None:
        if isinstance(self._creds_arg, Credentials):
            return self._creds_arg
        if self._creds_arg is False:
            return None
        if repository not in self._creds_cache:
            self._creds_cache[repository] = find_credentials(self._creds_host, repository,
                                                             self._auth_file)
        return self._creds_cache[repository]

    def _auth_header(self, scope: str, repository: str) -> str | None:
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            creds = self._credentials(repository)
            return creds.basic_header() if creds else None
        token = self._tokens.get(scope)
        return f"Bearer {token}" if token else None

    def _authenticate(self, header: str, scope: str, repository: str) -> None:
        challenges = parse_challenges(header)
        chosen = next((c for c in challenges if c.scheme == "bearer"), None) or \
            next((c for c in challenges if c.scheme == "basic"), None)
        if chosen is None:
            raise RegistryError(f"registry {self.host} asks for unsupported authentication "
                                f"'{quote_remote(header)}'", 401)
        self._challenge = chosen
        creds = self._credentials(repository)
        if chosen.scheme == "basic":
            if creds is None:
                raise RegistryError(f"registry {self.host} requires a user name and password; "
                                    "none found in the Docker or containers auth files", 401)
            return
        realm = chosen.params.get("realm")
        if not realm:
            raise RegistryError(f"registry {self.host} sent a bearer challenge without a realm", 401)
        query = [("service", chosen.params["service"])] if "service" in chosen.params else []
        scopes = [s for s in scope.split(" ") if s]
        for extra in chosen.params.get("scope", "").split(" "):
            if extra and extra not in scopes:  # what the registry says it needs, too
                scopes.append(extra)
        query += [("scope", s) for s in scopes]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"Authorization": creds.basic_header()} if creds else {}
        resp = self._send_with_retries("GET", url, headers, None, follow=True)
        body = resp.read(1 << 20)
        if resp.status == 401:
            what = "credentials were rejected" if creds else "anonymous access was refused"
            raise RegistryError(f"authentication to {self.host} failed: {what} by "
                                f"{quote_remote(realm)}", 401)
        if resp.status != 200:
            raise RegistryError(f"token request to {quote_remote(realm)} failed: "
                                f"{_error_text(resp.status, body)}", resp.status)
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token server {quote_remote(realm)} answered without a token")
        self._tokens[scope] = token

    # requests ----------------------------------------------------------------------------
    def _back_off(self, attempt: int, failure: str, retry_after: float | None = None) -> int:
        """After a transient failure: raise ``failure`` if the retries are used up, else
        wait (the server's ``Retry-After`` up to ``max_retry_after``, else exponential
        backoff) and return the next attempt number."""
        if self._cancelled.is_set():
            raise Cancelled("cancelled") from None
        if attempt >= self.retries:
            raise RegistryError(failure) from None
        self.stats["retries"] += 1
        if retry_after is not None:
            delay = min(max(retry_after, 0.0), self.max_retry_after)
        else:
            delay = self.retry_delay * (2 ** attempt)
        self.stats["waited"] += delay
        if self._cancelled.wait(delay):
            raise Cancelled("cancelled") from None
        return attempt + 1

    def _send_once(self, method: str, url: str, headers: dict[str, str],
                   body: bytes | BinaryIO | None) -> Response:
        if self._cancelled.is_set():
            raise Cancelled("cancelled")
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (("?" + parts.query) if parts.query else "")
        conn = self._connection(parts.scheme, parts.netloc)
        self.stats["requests"] += 1
        shown = quote_remote(url)
        try:
            if hasattr(body, "seek"):
                body.seek(0)  # type: ignore[union-attr]
            conn.request(method, target, body=body, headers=headers)
            if self._cancelled.is_set():  # cancel() may have missed a socket this new
                raise Cancelled("cancelled")
            raw = self._get_response(conn)
        except ssl.SSLCertVerificationError as e:
            self._drop(parts.scheme, parts.netloc)
            raise RegistryError(f"TLS certificate of {parts.netloc} not trusted: {e.verify_message} "
                                "(use --tls-verify=false for a registry without a trusted "
                                "certificate)") from None
        except ssl.SSLError as e:
            self._drop(parts.scheme, parts.netloc)
            if isinstance(e, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                raise TransientError(f"{method} {shown}: {_describe(e)}") from None
            hint = " (use --tls-verify=false for a plain-HTTP registry)" \
                if "WRONG_VERSION_NUMBER" in str(e) else ""
            raise RegistryError(f"TLS connection to {quote_remote(parts.netloc)} failed: "
                                f"{quote_remote(e.reason or str(e))}{hint}") from None
        except (OSError, http.client.HTTPException) as e:
            self._drop(parts.scheme, parts.netloc)
            if self._cancelled.is_set():
                raise Cancelled("cancelled") from None
            raise TransientError(f"{method} {shown}: {_describe(e)}") from None
        except BaseException:
            self._drop(parts.scheme, parts.netloc)  # e.g. a body source failing mid-request
            raise
        resp = Response(raw, url, lambda: self._drop(parts.scheme, parts.netloc), self.timeout)
        if method == "HEAD":
            raw.read()
        return resp

    def _send_with_retries(self, method: str, url: str, headers: dict[str, str],
                           body: bytes | BinaryIO | None, *, follow: bool) -> Response:
        attempt = 0
        redirects = 0
        while True:
            try:
                resp = self._send_once(method, url, headers, body)
                if resp.status in TRANSIENT_STATUS:
                    raise _transient_status(method, url, resp)
            except TransientError as e:
                attempt = self._back_off(attempt, f"registry request failed after {attempt + 1} "
                                                  f"attempts: {e}", e.retry_after)
                continue
            if follow and resp.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                location = resp.headers.get("Location")
                resp.read()
                if not location or redirects >= 10:
                    raise RegistryError(f"{method} {quote_remote(url)}: bad or too many "
                                        "redirects", resp.status)
                redirects += 1
                new_url = urllib.parse.urljoin(url, location)
                if urllib.parse.urlsplit(new_url).netloc != urllib.parse.urlsplit(url).netloc:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = new_url
                continue
            return resp

    def request(self, method: str, path: str, *, repository: str, scope: str,
                headers: dict[str, str] | None = None, body: bytes | BinaryIO | None = None,
                follow: bool = True) -> Response:
        """Send ``method path`` (``path`` starts with /v2/ or is an absolute URL from a
        Location header) with authentication for ``scope``; returns any final status."""
        url = path if "://" in path else f"{self._base_scheme()}://{self.host}{path}"
        for _ in range(3):
            all_headers = dict(headers or {})
            auth = self._auth_header(scope, repository)
            if auth:
                all_headers["Authorization"] = auth
            resp = self._send_with_retries(method, url, all_headers, body, follow=follow)
            if resp.status != 401:
                return resp
            resp.read(1 << 20)
            challenge = resp.headers.get("WWW-Authenticate")
            if not challenge:
                raise RegistryError(f"{method} {quote_remote(url)}: 401 Unauthorized without a "
                                    "challenge", 401)
            if auth and self._challenge and self._challenge.scheme == "basic":
                raise RegistryError(f"authentication to {self.host} failed: user name or "
                                    "password rejected", 401)
            self._tokens.pop(scope, None)
            self._authenticate(challenge, scope, repository)
        raise RegistryError(f"{method} {quote_remote(url)}: still unauthorized after "
                            f"authenticating (scope {scope})", 401)

    def check(self, resp: Response, what: str, ok: tuple[int, ...] = (200,)) -> Response:
        """Raise a clear error unless ``resp.status`` is in ``ok``."""
        if resp.status in ok:
            return resp
        body = resp.read(1 << 20)
        text = _error_text(resp.status, body)
        if resp.status == 404:
            raise RegistryError(f"{what}: not found ({text})", 404)
        if resp.status in (401, 403):
            raise RegistryError(f"{what}: access denied ({text})", resp.status)
        raise RegistryError(f"{what}: {text}", resp.status)

    # API operations ----------------------------------------------------------------------
    def ping(self) -> None:
        resp = self._send_with_retries("GET", f"{self._base_scheme()}://{self.host}/v2/", {},
                                       None, follow=True)
        resp.read(1 << 20)
        if resp.status == 401:
            header = resp.headers.get("WWW-Authenticate", "")
            challenges = parse_challenges(header)
            if challenges:
                self._challenge = next((c for c in challenges if c.scheme == "bearer"), challenges[0])
        elif resp.status != 200:
            raise RegistryError(f"{self.host} does not look like a registry (GET /v2/ gave "
                                f"HTTP {resp.status})", resp.status)

    def get_manifest(self, repository: str, ref: str, accept: tuple[str, ...]) -> tuple[bytes, str, str]:
        """Return (body, media type, digest) of a manifest, verified against ``ref`` when
        ``ref`` is a digest and against the Docker-Content-Digest header when present."""
        resp = self.request("GET", f"/v2/{repository}/manifests/{ref}", repository=repository,
                            scope=f"repository:{repository}:pull",
                            headers={"Accept": ", ".join(accept)})
        self.check(resp, f"manifest {self.host}/{repository}:{ref}" if not ref.startswith("sha256:")
                   else f"manifest {self.host}/{repository}@{ref}")
        body = resp.read(4 << 20)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise RegistryError(f"manifest {repository}@{ref} received with digest {digest}")
        header = resp.headers.get("Docker-Content-Digest")
        if header and header.startswith("sha256:") and header != digest:
            raise RegistryError(f"manifest {repository}:{ref} has digest {digest} but the registry "
                                f"says {header}")
        media_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
        return body, media_type, digest

    def open_blob(self, repository: str, digest: str, urls: list[str] | None = None) -> Response:
        """GET a blob; a foreign layer the registry does not hold is fetched from its
        descriptor's ``urls`` (http/https, no credentials sent), as skopeo does."""
        resp = self.request("GET", f"/v2/{repository}/blobs/{digest}", repository=repository,
                            scope=f"repository:{repository}:pull")
        if resp.status == 404 and urls:
            resp.read(1 << 20)
            for url in urls:
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    continue
                alt = self._send_with_retries("GET", url, {}, None, follow=True)
                if alt.status == 200:
                    return alt
                alt.read(1 << 20)
            raise RegistryError(f"blob {digest} is neither in {self.host}/{repository} nor at "
                                f"its URLs ({quote_remote(', '.join(map(str, urls)))})", 404)
        return self.check(resp, f"blob {digest} in {self.host}/{repository}")

    def download_blob(self, repository: str, digest: str, size: int | None,
                      consume: Callable[[Iterator[bytes]], Any],
                      urls: list[str] | None = None) -> Any:
        """Stream a blob into ``consume`` (which must start afresh each call), verifying
        size and digest; a connection failure mid-body restarts the download."""
        attempt = 0
        while True:
            resp = self.open_blob(repository, digest, urls)
            try:
                return consume(self.verified_chunks(resp, repository, digest, size))
            except TransientError as e:
                attempt = self._back_off(attempt, f"downloading blob {digest} failed after "
                                                  f"{attempt + 1} attempts: {e}", e.retry_after)

    def verified_chunks(self, resp: Response, repository: str, digest: str,
                        size: int | None) -> Iterator[bytes]:
        """The body of a blob response, checked against ``size`` and ``digest``."""
        h = hashlib.sha256()
        n = 0
        try:
            for block in resp.chunks():
                n += len(block)
                if size is not None and n > size:
                    resp.close()
                    raise RegistryError(f"blob {digest} from {self.host}/{repository} is larger "
                                        f"than the {size} bytes its descriptor declares")
                h.update(block)
                yield block
        except GeneratorExit:
            resp.close()
            raise
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and n < int(length):
            resp.close()  # http.client reports a connection closed early as a short body
            raise TransientError(f"reading blob {digest}: connection closed after {n} of "
                                 f"{length} bytes")
        if size is not None and n != size:
            raise RegistryError(f"blob {digest} from {self.host}/{repository} has {n} bytes, "
                                f"its descriptor declares {size}")
        got = "sha256:" + h.hexdigest()
        if got != digest:
            raise RegistryError(f"blob {digest} from {self.host}/{repository} has digest {got}: "
                                "the registry served corrupt or different content")

    def blob_exists(self, repository: str, digest: str, scope: str | None = None) -> bool:
        resp = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", repository=repository,
                            scope=scope or f"repository:{repository}:pull,push")
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        self.check(resp, f"checking blob {digest} in {self.host}/{repository}")
        return False

    def mount_blob(self, repository: str, digest: str, source_repository: str) -> bool:
        """Ask for a cross-repository mount; True if the registry mounted the blob."""
        scope = f"repository:{repository}:pull,push repository:{source_repository}:pull"
        query = urllib.parse.urlencode({"mount": digest, "from": source_repository})
        resp = self.request("POST", f"/v2/{repository}/blobs/uploads/?{query}",
                            repository=repository, scope=scope, follow=False,
                            headers={"Content-Length": "0"})
        resp.read(1 << 20)
        if resp.status == 201:
            self.stats["mounted"] = self.stats.get("mounted", 0) + 1
            return True
        if resp.status == 202:  # the registry started an ordinary upload instead: cancel it
            location = resp.headers.get("Location")
            if location:
                url = self._absolute(location)
                self.request("DELETE", url, repository=repository, scope=scope).read(1 << 20)
            return False
        self.check(resp, f"mounting blob {digest} into {self.host}/{repository}", (201, 202))
        return False

    def _absolute(self, location: str) -> str:
        return urllib.parse.urljoin(f"{self._base_scheme()}://{self.host}/", location)

    def upload_blob(self, repository: str, digest: str, size: int,
                    source: Callable[[], Iterable[bytes]], chunk_size: int | None = None) -> None:
        """Upload the blob ``source`` yields (fresh chunks per call): one PUT (monolithic), or
        PATCH pieces of ``chunk_size`` then a closing PUT (chunked).  The registry checks
        ``digest``; a transient failure restarts the upload session."""
        scope = f"repository:{repository}:pull,push"
        attempt = 0
        while True:
            try:
                self._upload_once(repository, digest, size, source, chunk_size, scope)
                self.stats["uploaded"] = self.stats.get("uploaded", 0) + 1
                return
            except TransientError as e:
                attempt = self._back_off(attempt, f"uploading blob {digest} failed: {e}",
                                         e.retry_after)

    def _upload_once(self, repository: str, digest: str, size: int,
                     source: Callable[[], Iterable[bytes]], chunk_size: int | None,
                     scope: str) -> None:
        resp = self.request("POST", f"/v2/{repository}/blobs/uploads/", repository=repository,
                            scope=scope, follow=False, headers={"Content-Length": "0"})
        self.check(resp, f"starting an upload to {self.host}/{repository}", (202,))
        resp.read(1 << 20)
        location = resp.headers.get("Location")
        if not location:
            raise RegistryError(f"registry {self.host} started an upload without a Location")
        url = self._absolute(location)
        body: Any
        if chunk_size:
            offset = 0
            for piece in _pieces(source(), chunk_size):
                headers = {"Content-Type": "application/octet-stream",
                           "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                           "Content-Length": str(len(piece))}
                resp = self._upload_request("PATCH", url, headers, piece, repository, scope)
                self.check(resp, f"uploading blob {digest}", (202,))
                resp.read(1 << 20)
                url = self._absolute(resp.headers.get("Location") or url)
                offset += len(piece)
            if offset != size:
                raise RegistryError(f"blob {digest} produced {offset} bytes, expected {size}")
            body, length = b"", 0
        else:
            body, length = exact_length(source(), size, f"blob {digest}"), size
        sep = "&" if "?" in url else "?"
        put_url = url + sep + urllib.parse.urlencode({"digest": digest})
        resp = self._upload_request("PUT", put_url, {"Content-Type": "application/octet-stream",
                                                     "Content-Length": str(length)},
                                    body, repository, scope)
        self.check(resp, f"uploading blob {digest} to {self.host}/{repository}", (201,))
        resp.read(1 << 20)

    def _upload_request(self, method: str, url: str, headers: dict[str, str], body: Any,
                        repository: str, scope: str) -> Response:
        """Upload requests are not safely repeatable on their own (the session has moved
        on): a transient failure aborts the whole upload, which the caller restarts."""
        all_headers = dict(headers)
        auth = self._auth_header(scope, repository)
        if auth:
            all_headers["Authorization"] = auth
        resp = self._send_once(method, url, all_headers, body)
        if resp.status in TRANSIENT_STATUS:
            raise _transient_status(method, url, resp)
        return resp

    def list_tags(self, repository: str) -> list[str]:
        """All tags of a repository, following ``Link`` pagination."""
        tags: list[str] = []
        path = f"/v2/{repository}/tags/list"
        for _ in range(1000):
            resp = self.request("GET", path, repository=repository,
                                scope=f"repository:{repository}:pull")
            self.check(resp, f"listing tags of {self.host}/{repository}")
            try:
                page = json.loads(resp.read(16 << 20)).get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"tag list of {self.host}/{repository} is not valid JSON") from None
            tags.extend(t for t in page if isinstance(t, str))
            link = resp.headers.get("Link", "")
            if not link.startswith("<"):
                break
            path = self._absolute(link[1:link.index(">")])
        return tags

    def put_manifest(self, repository: str, ref: str, body: bytes, media_type: str) -> str:
        resp = self.request("PUT", f"/v2/{repository}/manifests/{ref}", repository=repository,
                            scope=f"repository:{repository}:pull,push", follow=False,
                            headers={"Content-Type": media_type, "Content-Length": str(len(body))},
                            body=body)
        self.check(resp, f"writing manifest {self.host}/{repository}:{ref}", (201, 200))
        resp.read(1 << 20)
        return "sha256:" + hashlib.sha256(body).hexdigest()


def _shut(conn: http.client.HTTPConnection) -> None:
    """Shut a connection's socket down under whoever is blocked reading it."""
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _transient_status(method: str, url: str, resp: Response) -> TransientError:
    """The error for a 429/5xx answer (its body read), with the server's Retry-After."""
    try:
        text = _error_text(resp.status, resp.read(1 << 20))
    except (NixliteError, OSError):
        text = f"HTTP {resp.status}"
    return TransientError(f"{method} {quote_remote(url)}: {text}", resp.status,
                          _retry_after(resp.headers.get("Retry-After")))


def _pieces(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Regroup a chunk stream into pieces of exactly ``size`` bytes (the last may be shorter)."""
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)

"""Nix binary caches: read, verify, substitute from and upload to them.

A binary cache (``nix copy --to file://…``, cache.nixos.org, Cachix, an S3
bucket behind HTTP) is a directory or URL prefix holding::

    nix-cache-info         StoreDir / WantMassQuery / Priority
    <hashpart>.narinfo     StorePath URL Compression FileHash FileSize NarHash
                           NarSize References Deriver [System] Sig* [CA]
    nar/<filehash>.nar.xz  the (compressed) NAR of the path

Signatures are ed25519 over the fingerprint
``1;<path>;<narHash base32>;<narSize>;<references, comma-separated>`` and
written ``keyname:base64``; keys are the files ``nix-store
--generate-binary-cache-key`` writes.  All crypto is the ``cryptography``
package's.

Realiser-facing API
-------------------
::

    from nixlite.store.settings import Settings
    from nixlite.store.binary_cache import Substituter

    settings = Settings.load()                 # nix.conf files + $NIX_CONFIG
    settings.set("substituters", "http://…")   # --substituters / --option NAME VALUE
    settings.set("substitute", "false")        # --no-substitute / --offline
    subst = Substituter(settings, store.store_dir)
    infos = subst.query(paths)                 # {path: NarInfo} for paths some cache has
    done = subst.substitute(paths, store)      # set of paths now valid (closures included)

``substitute`` downloads in parallel, decompresses while streaming, checks
NAR hash and size and (with ``require-sigs``) a signature by one of
``trusted-public-keys`` (content-addressed paths need none, as in Nix), and
registers each path with its references, deriver and signatures, references
first.  Nothing unverified becomes valid: NARs are unpacked under a temp
name and moved into place only after every check.  A cache that is down,
slow (``connect-timeout``, ``stalled-download-timeout``) or serves garbage
is skipped with a ``warning:`` on ``log`` (default stderr) and the next one
is tried; paths that no cache could provide are simply not in the result
(the realiser builds them).  ``substitute`` never raises for cache trouble.

Uploads: ``BinaryCache.open(url, settings).copy_paths(store, paths, keys)``
(NARs first, narinfo last, so a reader never sees a narinfo without its NAR).
URLs: ``file://DIR``, ``http://``, ``https://`` (GET, PUT for uploads,
credentials from ``netrc-file``), with Nix's store parameters
``?compression=xz|zstd|bzip2|none``, ``priority=N``, ``trusted=1`` and
``secret-key=FILE``.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import concurrent.futures
import hashlib
import http.client
import lzma
import netrc
import os
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nixlite.activity import Activity, ActivityType, LineLogger, Logger, Verbosity
from nixlite.errors import NixliteError
from nixlite.store.fetch import _curl_like_reason
from nixlite.store.hashes import BadHash, Hash, parse_hash
from nixlite.store.local import LocalStore, PathInfo, StoreError, check_nar, remove_tree
from nixlite.store.nar import BLOCK, NarError, dump
from nixlite.store.paths import (
    BadStorePath,
    HASH_PART_LEN,
    make_fixed_output_path,
    make_text_path,
    name_of,
    parse_store_path,
)
from nixlite.store.settings import Settings


class BinaryCacheError(NixliteError):
    """A cache that cannot be read or written, a bad key, a corrupt narinfo."""


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------
# keys and signatures


def _split_key(text: str, what: str) -> tuple[str, bytes]:
    name, _, body = text.strip().partition(":")
    if not name or not body:
        raise BinaryCacheError(f"{what} is corrupt")
    try:
        return name, base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BinaryCacheError(f"{what} is corrupt") from None


class _NamedKey:
    """A key and the name that signatures made with it carry (``name:…``)."""

    def __init__(self, name: str, key) -> None:
        self.name = name
        self.key = key


class SecretKey(_NamedKey):
    """An ed25519 signing key in Nix's ``name:base64(seed ‖ public key)`` form."""

    @classmethod
    def parse(cls, text: str) -> "SecretKey":
        name, raw = _split_key(text, "secret key")
        if len(raw) != 64:
            raise BinaryCacheError("secret key is not valid")
        key = Ed25519PrivateKey.from_private_bytes(raw[:32])
        if key.public_key().public_bytes_raw() != raw[32:]:
            raise BinaryCacheError("secret key is not valid")
        return cls(name, key)

    @classmethod
    def load(cls, path: str) -> "SecretKey":
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                return cls.parse(f.read())
        except OSError as exc:
            raise BinaryCacheError(f"reading secret key file '{path}': {exc.strerror}") from None

    @classmethod
    def generate(cls, name: str) -> "SecretKey":
        if not name or ":" in name:
            raise BinaryCacheError(f"invalid key name '{name}'")
        return cls(name, Ed25519PrivateKey.generate())

    def to_string(self) -> str:
        raw = self.key.private_bytes_raw() + self.key.public_key().public_bytes_raw()
        return f"{self.name}:{base64.b64encode(raw).decode()}"

    def public(self) -> "PublicKey":
        return PublicKey(self.name, self.key.public_key())

    def sign(self, info: PathInfo) -> str:
        sig = self.key.sign(info.fingerprint().encode())
        return f"{self.name}:{base64.b64encode(sig).decode()}"


class PublicKey(_NamedKey):
    """An ed25519 verification key in Nix's ``name:base64`` form."""

    @classmethod
    def parse(cls, text: str) -> "PublicKey":
        name, raw = _split_key(text, "public key")
        if len(raw) != 32:
            raise BinaryCacheError("public key is not valid")
        return cls(name, Ed25519PublicKey.from_public_bytes(raw))

    def to_string(self) -> str:
        return f"{self.name}:{base64.b64encode(self.key.public_bytes_raw()).decode()}"

    def verify(self, fingerprint: str, sig: str) -> bool:
        name, _, body = sig.partition(":")
        if name != self.name:
            return False
        try:
            raw = base64.b64decode(body, validate=True)
            self.key.verify(raw, fingerprint.encode())
        except (binascii.Error, ValueError, InvalidSignature):
            return False
        return True


def public_keys(texts) -> dict[str, PublicKey]:
    """``trusted-public-keys`` by key name."""
    keys = {}
    for t in texts:
        k = PublicKey.parse(t)
        keys[k.name] = k
    return keys


def valid_signatures(info: PathInfo, keys: dict[str, PublicKey]) -> int:
    """How many of ``info.sigs`` verify with a key of ``keys`` (one per key name)."""
    fingerprint = info.fingerprint()
    good = set()
    for sig in info.sigs:
        name = sig.partition(":")[0]
        key = keys.get(name)
        if key is not None and name not in good and key.verify(fingerprint, sig):
            good.add(name)
    return len(good)


def is_content_addressed(info: PathInfo, sdir: str) -> bool:
    """Does ``info.ca`` really produce ``info.path``?  Such paths need no signature (as in Nix)."""
    ca = info.ca or ""
    try:
        refs = info.references - {info.path}
        if ca.startswith("text:"):
            h = parse_hash(ca[len("text:"):])
            if h.algo != "sha256":
                return False
            return make_text_path(name_of(info.path), h.digest, refs, sdir) == info.path
        if ca.startswith("fixed:"):
            body = ca[len("fixed:"):]
            recursive = body.startswith("r:")
            h = parse_hash(body[2:] if recursive else body)
            self_ref = info.path in info.references
            return make_fixed_output_path(recursive, h, name_of(info.path), refs, self_ref, sdir) == info.path
    except (BadHash, BadStorePath):
        return False
    return False


def is_trusted(info: PathInfo, keys: dict[str, PublicKey], sdir: str) -> bool:
    return is_content_addressed(info, sdir) or valid_signatures(info, keys) > 0


# --------------------------------------------------------------------------
# narinfo


COMPRESSION_EXTENSIONS = {"xz": ".xz", "bzip2": ".bz2", "zstd": ".zst", "none": ""}


@dataclass(slots=True)
class NarInfo:
    path: str
    url: str
    compression: str
    nar_hash: Hash
    nar_size: int
    references: set[str] = field(default_factory=set)
    deriver: str | None = None
    sigs: set[str] = field(default_factory=set)
    ca: str | None = None
    file_hash: Hash | None = None
    file_size: int | None = None
    system: str | None = None

    @classmethod
    def parse(cls, text: str, where: str, sdir: str) -> "NarInfo":
        """Nix's ``NarInfo(store, text, whence)``: unknown keys are ignored."""
        def corrupt(why: str = "") -> BinaryCacheError:
            return BinaryCacheError(f"NAR info file '{where}' is corrupt" + (f": {why}" if why else ""))

        fields: dict[str, str] = {}
        sigs: set[str] = set()
        for line in text.split("\n"):
            if not line:
                continue
            key, sep, value = line.partition(":")
            if not sep:
                raise corrupt()
            value = value.lstrip(" \t")
            if key == "Sig":
                sigs.add(value)
            else:
                fields[key] = value

        def store_path(base: str) -> str:
            try:
                return parse_store_path(f"{sdir}/{base}", sdir)
            except BadStorePath as exc:
                raise corrupt(str(exc)) from None

        def number(key: str) -> int | None:
            if key not in fields:
                return None
            if not fields[key].isdigit():
                raise corrupt(f"bad {key}")
            return int(fields[key])

        def digest(key: str) -> Hash | None:
            if key not in fields:
                return None
            try:
                return parse_hash(fields[key])
            except BadHash as exc:
                raise corrupt(str(exc)) from None

        path = fields.get("StorePath")
        if path is None or not fields.get("URL") or "NarHash" not in fields or not number("NarSize"):
            raise corrupt()
        try:
            parse_store_path(path, sdir)
        except BadStorePath as exc:
            raise corrupt(str(exc)) from None
        deriver = fields.get("Deriver")
        return cls(
            path=path, url=fields["URL"], compression=fields.get("Compression") or "bzip2",
            nar_hash=digest("NarHash"), nar_size=number("NarSize"),
            references={store_path(r) for r in fields.get("References", "").split()},
            deriver=store_path(deriver) if deriver and deriver != "unknown-deriver" else None,
            sigs=sigs, ca=fields.get("CA") or None,
            file_hash=digest("FileHash"), file_size=number("FileSize"),
            system=fields.get("System") or None,
        )

    def to_text(self) -> str:
        """The narinfo exactly as Nix writes it (``NarInfo::to_string``)."""
        lines = [
            f"StorePath: {self.path}",
            f"URL: {self.url}",
            f"Compression: {self.compression}",
        ]
        if self.file_hash is not None:
            lines.append(f"FileHash: {self.file_hash.to_string('base32')}")
            lines.append(f"FileSize: {self.file_size}")
        lines.append(f"NarHash: {self.nar_hash.to_string('base32')}")
        lines.append(f"NarSize: {self.nar_size}")
        lines.append("References: " + " ".join(sorted(os.path.basename(r) for r in self.references)))
        if self.deriver:
            lines.append(f"Deriver: {os.path.basename(self.deriver)}")
        if self.system:
            lines.append(f"System: {self.system}")
        lines.extend(f"Sig: {s}" for s in sorted(self.sigs))
        if self.ca:
            lines.append(f"CA: {self.ca}")
        return "\n".join(lines) + "\n"

    def path_info(self) -> PathInfo:
        return PathInfo(self.path, self.nar_hash, self.nar_size, set(self.references),
                        self.deriver, ca=self.ca, sigs=set(self.sigs))


def hash_part(path: str) -> str:
    return os.path.basename(path)[:HASH_PART_LEN]


# --------------------------------------------------------------------------
# compression


def _check_compression(method: str) -> str:
    if method not in COMPRESSION_EXTENSIONS:
        raise BinaryCacheError(f"unknown compression method '{method}'")
    return method


def decompressing_reader(method: str, raw):
    """A ``.read(n)`` stream of ``raw`` decompressed with ``method``."""
    _check_compression(method)
    if method == "xz":
        return lzma.LZMAFile(raw)
    if method == "bzip2":
        return bz2.BZ2File(raw)
    if method == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


class _Compressor:
    """Feed NAR blocks, get compressed blocks; ``method`` as in narinfo ``Compression``."""

    def __init__(self, method: str) -> None:
        _check_compression(method)
        if method == "xz":
            self._c = lzma.LZMACompressor(lzma.FORMAT_XZ, check=lzma.CHECK_CRC64)
        elif method == "bzip2":
            self._c = bz2.BZ2Compressor()
        elif method == "zstd":
            import zstandard

            self._c = zstandard.ZstdCompressor(level=3).compressobj()
        else:
            self._c = None

    def compress(self, data: bytes) -> bytes:
        return data if self._c is None else self._c.compress(data)

    def flush(self) -> bytes:
        return b"" if self._c is None else self._c.flush()


class _Counted:
    """A readable that counts what passes through, telling ``progress`` (an activity, or
    None) how far it got out of ``expected`` bytes."""

    def __init__(self, raw, progress: Activity | None = None, expected: int = 0) -> None:
        self.raw = raw
        self.size = 0
        self.progress = progress
        self.expected = expected

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.size += len(data)
        if self.progress is not None:
            self.progress.progress(self.size, self.expected)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


class _TeeHash(_Counted):
    """A counted readable that also hashes what passes through (the FileHash of a download)."""

    def __init__(self, raw, progress: Activity | None = None, expected: int = 0) -> None:
        super().__init__(raw, progress, expected)
        self.h = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        self.h.update(data)
        return data


# --------------------------------------------------------------------------
# transports


class TransportError(BinaryCacheError):
    """The cache could not be reached or answered with an error (not a 404)."""


class _FileTransport:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _local(self, rel: str) -> str:
        return os.path.join(self.directory, rel)

    def get(self, rel: str) -> bytes | None:
        try:
            with open(self._local(rel), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TransportError(f"reading '{self._local(rel)}': {exc.strerror}") from None

    def open(self, rel: str):
        try:
            return open(self._local(rel), "rb")
        except OSError as exc:
            raise TransportError(f"opening '{self._local(rel)}': {exc.strerror}") from None

    def exists(self, rel: str) -> bool:
        return os.path.exists(self._local(rel))

    def put(self, rel: str, source: str | bytes, content_type: str) -> None:
        """Write under a temp name, then rename: readers never see half a file."""
        dest = self._local(rel)
        temp = f"{dest}.tmp-{os.getpid()}-{threading.get_ident()}"
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if isinstance(source, bytes):
                with open(temp, "wb") as out:
                    out.write(source)
            else:
                os.link(source, temp) if _same_fs(source, dest) else _copy_file(source, temp)
            os.replace(temp, dest)
        except OSError as exc:
            if os.path.lexists(temp):
                os.unlink(temp)
            raise TransportError(f"writing '{dest}': {exc.strerror}") from None


def _same_fs(a: str, b: str) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(os.path.dirname(b)).st_dev
    except OSError:
        return False


def _copy_file(src: str, dest: str) -> None:
    with open(src, "rb") as f, open(dest, "xb") as out:
        while block := f.read(BLOCK):
            out.write(block)


class _HttpTransport:
    """GET/PUT/HEAD over keep-alive connections, one per thread."""

    def __init__(self, base: str, settings: Settings) -> None:
        parts = urllib.parse.urlsplit(base)
        self.base = base
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.connect_timeout = settings.get_int("connect-timeout") or None
        self.stalled_timeout = settings.get_int("stalled-download-timeout") or None
        self.headers = {"User-Agent": "nixlite"}
        auth = _netrc_auth(settings.values.get("netrc-file"), self.host)
        if auth:
            self.headers["Authorization"] = auth
        self.ssl_context = None
        if self.scheme == "https":
            import ssl

            cafile = settings.values.get("ssl-cert-file") or os.environ.get("NIX_SSL_CERT_FILE") or None
            self.ssl_context = ssl.create_default_context(cafile=cafile)
        self._local = threading.local()

    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            timeout = self.connect_timeout or self.stalled_timeout
            if self.ssl_context is not None:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ssl_context,
                                                   blocksize=BLOCK)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout, blocksize=BLOCK)
            conn.connect()
            conn.sock.settimeout(self.stalled_timeout)
            self._local.conn = conn
        return conn

    def drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _request(self, method: str, rel: str, body=None, headers=None):
        url = f"{self.base}/{rel}"
        for attempt in (0, 1):
            reused = getattr(self._local, "conn", None) is not None
            try:
                conn = self._connection()
                conn.request(method, f"{self.prefix}/{rel}", body=body, headers={**self.headers, **(headers or {})})
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.drop_connection()
                if reused and attempt == 0 and not hasattr(body, "read"):
                    continue  # the server closed an idle keep-alive connection: once more
                raise TransportError(f"unable to download '{url}': {_curl_like_reason(exc)}") from None
            except (OSError, http.client.HTTPException) as exc:
                self.drop_connection()
                raise TransportError(f"unable to download '{url}': {_curl_like_reason(exc)}") from None
        raise AssertionError("unreachable")

    def _fail(self, resp, url: str) -> TransportError:
        self._finish(resp)
        return TransportError(f"unable to download '{url}': HTTP error {resp.status}")

    def _finish(self, resp) -> None:
        try:
            resp.read()
        except (OSError, http.client.HTTPException):
            self.drop_connection()
        if resp.will_close:
            self.drop_connection()

    def get(self, rel: str) -> bytes | None:
        url = f"{self.base}/{rel}"
        resp = self._request("GET", rel)
        if resp.status in (403, 404):
            self._finish(resp)
            return None
        if resp.status != 200:
            raise self._fail(resp, url)
        try:
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.drop_connection()
            raise TransportError(f"unable to download '{url}': {_curl_like_reason(exc)}") from None
        if resp.will_close:
            self.drop_connection()
        return data

    def open(self, rel: str):
        """The body as a stream; the caller reads it to the end or calls ``drop_connection``."""
        resp = self._request("GET", rel)
        if resp.status != 200:
            raise self._fail(resp, f"{self.base}/{rel}")
        return resp

    def exists(self, rel: str) -> bool:
        resp = self._request("HEAD", rel)
        self._finish(resp)
        if resp.status in (403, 404):
            return False
        if resp.status != 200:
            raise TransportError(f"unable to download '{self.base}/{rel}': HTTP error {resp.status}")
        return True

    def put(self, rel: str, source: str | bytes, content_type: str) -> None:
        url = f"{self.base}/{rel}"
        if isinstance(source, bytes):
            resp = self._request("PUT", rel, source, {"Content-Type": content_type})
        else:
            with open(source, "rb") as f:
                resp = self._request("PUT", rel, f, {"Content-Type": content_type,
                                                     "Content-Length": str(os.fstat(f.fileno()).st_size)})
        self._finish(resp)
        if not 200 <= resp.status < 300:
            raise TransportError(f"while uploading to HTTP binary cache at '{url}': HTTP error {resp.status}")


def _netrc_auth(netrc_file: str | None, host: str) -> str | None:
    """HTTP basic credentials for ``host`` from Nix's ``netrc-file``, if it has any."""
    if not netrc_file or not os.path.exists(netrc_file):
        return None
    try:
        entry = netrc.netrc(netrc_file).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        raise BinaryCacheError(f"reading netrc file '{netrc_file}': {exc}") from None
    if entry is None:
        return None
    login, _, password = entry
    return "Basic " + base64.b64encode(f"{login}:{password or ''}".encode()).decode()


# --------------------------------------------------------------------------
# one cache


class BinaryCache:
    """One binary cache, by URL (``file://``, ``http://``, ``https://`` with ``?params``)."""

    def __init__(self, url: str, settings: Settings, sdir: str) -> None:
        parts = urllib.parse.urlsplit(url)
        params = dict(urllib.parse.parse_qsl(parts.query))
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"  # as Nix prints it
        self.store_dir = sdir
        if parts.scheme == "file":
            self.transport = _FileTransport(urllib.parse.unquote(parts.path))
        elif parts.scheme in ("http", "https"):
            self.transport = _HttpTransport(self.url, settings)
        else:
            raise BinaryCacheError(f"don't know how to open Nix store with URI '{url}'")
        self.compression = _check_compression(params.get("compression", "xz"))
        self.trusted = params.get("trusted") in ("1", "true")
        self.secret_key = SecretKey.load(params["secret-key"]) if params.get("secret-key") else None
        self._priority = int(params["priority"]) if params.get("priority", "").isdigit() else None
        self._cache_info: dict[str, str] | None = None
        self.disabled_until = 0.0

    # -------------------------------------------------------------- metadata

    def cache_info(self) -> dict[str, str]:
        """``nix-cache-info``, checked against our store directory (read once)."""
        if self._cache_info is None:
            text = self.transport.get("nix-cache-info")
            if text is None:
                raise BinaryCacheError(f"'{self.url}' does not appear to be a binary cache")
            info = {}
            for line in text.decode("utf-8", "replace").splitlines():
                key, sep, value = line.partition(":")
                if sep:
                    info[key.strip()] = value.strip()
            cache_dir = info.get("StoreDir", self.store_dir)
            if cache_dir != self.store_dir:
                raise BinaryCacheError(f"binary cache '{self.url}' is for Nix stores with prefix "
                                       f"'{cache_dir}', not '{self.store_dir}'")
            self._cache_info = info
        return self._cache_info

    @property
    def priority(self) -> int:
        """Lower is tried first: ``?priority=``, else nix-cache-info's ``Priority``, else 0 (as Nix)."""
        if self._priority is not None:
            return self._priority
        value = self.cache_info().get("Priority", "0")
        return int(value) if value.isdigit() else 0

    def narinfo(self, path: str) -> NarInfo | None:
        """The cache's narinfo for ``path``, or ``None`` when it does not have it."""
        self.cache_info()
        rel = f"{hash_part(path)}.narinfo"
        text = self.transport.get(rel)
        if text is None:
            return None
        info = NarInfo.parse(text.decode("utf-8", "replace"), f"{self.url}/{rel}", self.store_dir)
        if info.path != path:
            raise BinaryCacheError(f"NAR info file '{self.url}/{rel}' is for path '{info.path}', not '{path}'")
        return info

    # ------------------------------------------------------------- download

    def fetch_nar(self, info: NarInfo, store: LocalStore,
                  copying: Activity | None = None) -> tuple[str, tuple[Hash, int]]:
        """Download, decompress and unpack ``info``'s NAR into a store temp name, checking
        FileHash/FileSize (when given) and NarHash/NarSize.  Returns ``(temp, (hash, size))``
        for ``LocalStore.add_restored``; on any failure nothing is left behind.  ``copying``
        (the path's copy activity) hears of the NAR bytes unpacked, and of the bytes
        downloaded when the cache is remote."""
        raw = self.transport.open(info.url)
        download = None
        if copying is not None and isinstance(self.transport, _HttpTransport):
            url = f"{self.url}/{info.url}"
            download = copying.child(ActivityType.FILE_TRANSFER, f"downloading '{url}'", (url,),
                                     level=Verbosity.TALKATIVE)
        tee = _TeeHash(raw, download, info.file_size or 0)
        temp = None
        try:
            stream = decompressing_reader(info.compression, tee)
            if copying is not None:
                stream = _Counted(stream, copying, info.nar_size or 0)
            temp, h, size = store.restore_nar(stream, info.nar_size)
            if tee.read(1):
                raise BinaryCacheError(f"file '{self.url}/{info.url}' has trailing data")
            _check_file(info, f"{self.url}/{info.url}", tee)
            check_nar(info.path_info(), (h, size))
            return temp, (h, size)
        except BaseException as exc:
            if temp is not None:
                remove_tree(temp)
            if isinstance(self.transport, _HttpTransport):
                self.transport.drop_connection()
            if isinstance(exc, (OSError, EOFError, lzma.LZMAError, http.client.HTTPException, NarError)) \
                    or type(exc).__name__ == "ZstdError":
                raise BinaryCacheError(f"cannot unpack '{self.url}/{info.url}' for path "
                                       f"'{info.path}': {_reason(exc)}") from None
            raise
        finally:
            raw.close()
            if download is not None:
                download.stop()

    # --------------------------------------------------------------- upload

    def ensure_cache_info(self) -> None:
        """Create ``nix-cache-info`` on a new cache (as Nix's ``BinaryCacheStore::init``)."""
        if isinstance(self.transport, _FileTransport):
            for sub in ("nar", "log", "realisations"):  # the directories Nix's file:// store makes
                os.makedirs(os.path.join(self.transport.directory, sub), exist_ok=True)
        if not self.transport.exists("nix-cache-info"):
            self.transport.put("nix-cache-info", f"StoreDir: {self.store_dir}\n".encode(),
                               "text/x-nix-cache-info")
        self._cache_info = None
        self.cache_info()

    def has(self, path: str) -> bool:
        return self.transport.exists(f"{hash_part(path)}.narinfo")

    def upload(self, store: LocalStore, path: str, keys=()) -> NarInfo:
        """Compress ``path``'s NAR, upload it, then its narinfo (signed with ``keys``)."""
        info = store.query_path_info(path)
        if info is None:
            raise StoreError(f"path '{path}' is not valid")
        compressor = _Compressor(self.compression)
        nar_h, file_h = hashlib.sha256(), hashlib.sha256()
        sizes = [0, 0]
        temp = store.make_temp_dir()
        try:
            temp_file = os.path.join(temp, "nar")
            with open(temp_file, "xb") as out:
                def sink(block: bytes) -> None:
                    nar_h.update(block)
                    sizes[0] += len(block)
                    packed = compressor.compress(block)
                    if packed:
                        file_h.update(packed)
                        sizes[1] += len(packed)
                        out.write(packed)

                dump(store.physical(path), sink)
                tail = compressor.flush()
                file_h.update(tail)
                sizes[1] += len(tail)
                out.write(tail)
            got = Hash("sha256", nar_h.digest())
            if got != info.nar_hash or sizes[0] != info.nar_size:
                raise StoreError(f"refusing to copy corrupted path '{path}' to binary cache")
            file_hash = Hash("sha256", file_h.digest())
            url = f"nar/{file_hash.base32()}.nar{COMPRESSION_EXTENSIONS[self.compression]}"
            sigs = set(info.sigs)
            for key in [*keys, *([self.secret_key] if self.secret_key else [])]:
                sigs.add(key.sign(info))
            narinfo = NarInfo(path, url, self.compression, info.nar_hash, info.nar_size,
                              set(info.references), info.deriver, sigs, info.ca, file_hash, sizes[1])
            if not self.transport.exists(url):
                self.transport.put(url, temp_file, "application/x-nix-nar")
            self.transport.put(f"{hash_part(path)}.narinfo", narinfo.to_text().encode(), "text/x-nix-narinfo")
            return narinfo
        finally:
            remove_tree(temp)

    def copy_paths(self, store: LocalStore, paths, keys=(), log=_stderr) -> list[str]:
        """Upload the closure of ``paths`` (references first), skipping what the cache has."""
        self.ensure_cache_info()
        closure = store.closure(paths)
        missing = [p for p in topological_order(closure, store.references) if not self.has(p)]
        if missing:
            log(f"copying {len(missing)} paths...")
        for p in missing:
            log(f"copying path '{p}' to '{self.url}'...")
            self.upload(store, p, keys)
        return missing


def _check_file(info: NarInfo, where: str, tee: _TeeHash) -> None:
    """The compressed file is what the narinfo says (``FileSize``/``FileHash``, when given)."""
    if info.file_size is not None and tee.size != info.file_size:
        raise BinaryCacheError(f"file '{where}' has size {tee.size}, but its narinfo says {info.file_size}")
    if info.file_hash is not None and info.file_hash.algo == "sha256" \
            and tee.h.digest() != info.file_hash.digest:
        raise BinaryCacheError(f"hash mismatch in file '{where}':\n"
                               f"  specified: {info.file_hash.to_string('base32')}\n"
                               f"  got:       {Hash('sha256', tee.h.digest()).to_string('base32')}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, NarError):
        return str(exc)
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return _curl_like_reason(exc)
    if isinstance(exc, EOFError):
        return "compressed data ended before the end-of-stream marker was reached"
    return str(exc) or type(exc).__name__


def topological_order(paths, references) -> list[str]:
    """``paths`` with every path after those of its references that are in ``paths``."""
    paths = set(paths)
    order: list[str] = []
    placed: set[str] = set()
    for root in sorted(paths):
        stack = [(root, iter(sorted(references(root) & paths - {root})))]
        if root in placed:
            continue
        placed.add(root)
        while stack:
            node, refs = stack[-1]
            nxt = next((r for r in refs if r not in placed), None)
            if nxt is None:
                stack.pop()
                order.append(node)
            else:
                placed.add(nxt)
                stack.append((nxt, iter(sorted(references(nxt) & paths - {nxt}))))
    return order


# --------------------------------------------------------------------------
# substitution


class Substituter:
    """The configured substituters, in priority order, as the realiser uses them."""

    def __init__(self, settings: Settings, sdir: str, log=_stderr, urls: list[str] | None = None,
                 logger: Logger | None = None) -> None:
        """``urls`` replaces the ``substituters`` setting (``nixlite store copy --from``).
        What happens goes to ``logger``, or as plain lines to ``log``."""
        self.settings = settings
        self.urls = settings.substituters if urls is None else urls
        self.store_dir = sdir
        self.logger = logger or LineLogger(log)
        self.require_sigs = settings.require_sigs
        self.keys = public_keys(settings.trusted_public_keys)
        self.jobs = max(1, min(settings.get_int("http-connections") or 25, 16))
        self._caches: list[BinaryCache] | None = None
        self._lock = threading.Lock()

    def caches(self) -> list[BinaryCache]:
        """The usable caches, best first; unreachable or misconfigured ones are dropped with a warning."""
        if self._caches is None:
            opened = []
            for url in self.urls:
                try:
                    opened.append(BinaryCache(url, self.settings, self.store_dir))
                except BinaryCacheError as exc:
                    self._warn(f"warning: {exc}")

            def usable(cache: BinaryCache) -> BinaryCache | None:
                try:
                    cache.cache_info()
                    return cache
                except BinaryCacheError as exc:
                    self._warn(f"warning: {exc}")
                    return None

            with concurrent.futures.ThreadPoolExecutor(max(1, len(opened))) as pool:
                good = [c for c in pool.map(usable, opened) if c is not None]
            self._caches = sorted(good, key=lambda c: c.priority)
        return self._caches

    def _warn(self, text: str) -> None:
        self.logger.log(Verbosity.WARN, text)

    def _enabled(self, cache: BinaryCache) -> bool:
        return time.monotonic() >= cache.disabled_until

    def _disable(self, cache: BinaryCache, exc: Exception) -> None:
        with self._lock:
            if self._enabled(cache):
                self._warn(f"warning: {exc}")
                self._warn(f"warning: disabling binary cache '{cache.url}' for 60 seconds")
                cache.disabled_until = time.monotonic() + 60

    def _acceptable(self, cache: BinaryCache, info: NarInfo) -> bool:
        if not self.require_sigs or cache.trusted or is_trusted(info.path_info(), self.keys, self.store_dir):
            return True
        self._warn(f"warning: substituter '{cache.url}' does not have a valid signature for path '{info.path}'")
        return False

    def _candidates(self, path: str) -> list[tuple[BinaryCache, NarInfo]]:
        """Every cache (best first) with a narinfo for ``path`` we may use."""
        found = []
        for cache in self.caches():
            if not self._enabled(cache):
                continue
            try:
                info = cache.narinfo(path)
            except TransportError as exc:
                self._disable(cache, exc)
                continue
            except BinaryCacheError as exc:
                self._warn(f"warning: {exc}")
                continue
            if info is not None and self._acceptable(cache, info):
                found.append((cache, info))
        return found

    def query(self, paths) -> dict[str, NarInfo]:
        """For each path some substituter has, the narinfo of the best one (parallel)."""
        paths = list(dict.fromkeys(paths))
        if not paths or not self.caches():
            return {}
        with concurrent.futures.ThreadPoolExecutor(self.jobs) as pool:
            return {p: c[0][1] for p, c in zip(paths, pool.map(self._candidates, paths)) if c}

    def substitute(self, paths, store: LocalStore, parent: Activity | None = None) -> set[str]:
        """Make ``paths`` and their closures valid from the substituters where possible.

        Returns the wanted paths that are valid afterwards (already valid ones
        included).  A path whose closure cannot be completed is left out with
        a warning; nothing partial or unverified is registered.  The copies are
        reported as activities (under ``parent``, if given).
        """
        wanted = list(dict.fromkeys(paths))
        todo = [p for p in wanted if not store.is_valid(p)]
        if not todo or not self.caches():
            return {p for p in wanted if store.is_valid(p)}
        candidates: dict[str, list[tuple[BinaryCache, NarInfo]]] = {}
        downloads: dict[str, concurrent.futures.Future] = {}
        pool = concurrent.futures.ThreadPoolExecutor(self.jobs)
        copies = _Copies(self.logger.activity(ActivityType.COPY_PATHS, parent=parent))
        try:
            with store.batch():
                # ask for narinfos and start each download as soon as its narinfo is in,
                # following references the store lacks
                queries = {pool.submit(self._candidates, p): p for p in todo}
                asked = set(todo)
                while queries:
                    done, _ = concurrent.futures.wait(queries, return_when=concurrent.futures.FIRST_COMPLETED)
                    for f in done:
                        p = queries.pop(f)
                        found = candidates[p] = f.result()
                        if not found:
                            continue
                        copies.expect()
                        downloads[p] = pool.submit(self._download, p, found, store, copies)
                        for r in sorted(found[0][1].references - asked):
                            if not store.is_valid(r):
                                asked.add(r)
                                queries[pool.submit(self._candidates, r)] = r
                self._register(candidates, downloads, store)
        except BaseException:
            # interrupted (Ctrl-C) or failed: start nothing new, wait for what runs, and
            # drop what was unpacked but not registered
            pool.shutdown(wait=True, cancel_futures=True)
            for f in downloads.values():
                if not f.cancelled() and f.exception() is None and f.result() is not None:
                    remove_tree(f.result()[0])
            raise
        finally:
            copies.act.stop()
        pool.shutdown()
        return {p for p in wanted if store.is_valid(p)}

    def _register(self, candidates, downloads, store: LocalStore) -> None:
        """Add the downloaded paths, references first; drop those whose closure is incomplete."""
        def refs_of(p: str) -> set[str]:
            c = candidates.get(p)
            return c[0][1].references if c else set()

        failed = {p for p, c in candidates.items() if not c}
        for p in topological_order(candidates, refs_of):
            if p in failed:
                continue
            fetched = downloads[p].result()
            if fetched is None:
                failed.add(p)
                continue
            temp, got, info = fetched
            if any(r != p and r in failed for r in info.references):
                remove_tree(temp)
                self._warn(f"warning: some references of path '{p}' could not be realised")
                failed.add(p)
                continue
            try:
                store.add_restored(temp, got, info.path_info())
            except StoreError as exc:
                self._warn(f"warning: {exc}")
                failed.add(p)

    def _download(self, path: str, candidates, store: LocalStore, copies: "_Copies"):
        """Fetch ``path`` from the first candidate that serves a good NAR: ``(temp, got, info)``."""
        copies.running(+1)
        got = None
        try:
            got = self._download_from(path, candidates, store, copies.act)
        finally:
            copies.running(-1, done=got is not None)
        return got

    def _download_from(self, path: str, candidates, store: LocalStore, parent: Activity):
        for cache, info in candidates:
            if not self._enabled(cache):
                continue
            with self.logger.activity(ActivityType.SUBSTITUTE, fields=(path, cache.url),
                                      parent=parent) as sub, \
                    sub.child(ActivityType.COPY_PATH, f"copying path '{path}' from '{cache.url}'",
                              (path, cache.url, "local"), level=Verbosity.INFO) as copying:
                try:
                    temp, got = cache.fetch_nar(info, store, copying)
                    return temp, got, info
                except TransportError as exc:
                    self._disable(cache, exc)
                except (BinaryCacheError, StoreError) as exc:
                    self._warn(f"warning: {exc}")
        return None


class _Copies:
    """The count of a substitution's copies (Nix's ``copied`` figures): expected, running,
    done and failed, updated from the download threads."""

    def __init__(self, act: Activity) -> None:
        self.act = act
        self._lock = threading.Lock()
        self._counts = [0, 0, 0, 0]  # done, expected, running, failed

    def expect(self) -> None:
        self._update(expected=1)

    def running(self, delta: int, done: bool | None = None) -> None:
        self._update(running=delta, done=int(done is True), failed=int(done is False))

    def _update(self, done: int = 0, expected: int = 0, running: int = 0, failed: int = 0) -> None:
        with self._lock:
            c = self._counts
            c[0] += done
            c[1] += expected
            c[2] += running
            c[3] += failed
            self.act.progress(*c)

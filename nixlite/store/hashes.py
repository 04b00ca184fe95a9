"""Hash algorithms and the textual hash forms Nix uses, with Nix's parsing rules.

API (pure, no I/O; safe to import from the evaluator):

* ``ALGOS``: algorithm name → digest size in bytes (``md5 sha1 sha256 sha512``).
* ``Hash(algo, digest)``: an immutable digest; ``.hex()``, ``.base32()``,
  ``.base64()``, ``.sri()`` and ``.to_string(fmt, prefix)`` where ``fmt`` is one
  of ``base16 | base32 | base64 | sri`` (``nix32``/``hex`` accepted as aliases).
* ``hash_bytes(algo, data)`` / ``hash_file(algo, path)`` → ``Hash``;
  ``hasher(algo)`` → a ``hashlib`` object for streaming.
* ``nixbase32_encode(b)`` / ``nixbase32_decode(s, size)``: Nix's base-32.
* ``parse_hash(s, algo=None)``: Nix's ``Hash::parseAny`` — optional ``algo:``
  or SRI ``algo-`` prefix, body classified by length; ``algo`` comes from the
  context when there is no prefix.  ``parse_hash_allow_empty`` additionally
  maps ``""`` to the all-zero hash (as ``outputHash = ""`` does, with a warning
  the caller prints).  ``parse_algo(name)`` checks an algorithm name.
* ``fold(digest, size=20)``: XOR-fold a digest, as store path hash parts do.

Errors are ``BadHash`` (a ``NixliteError``) with Nix 2.8's wording.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from nixlite.errors import NixliteError

ALGOS: dict[str, int] = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}

NIXBASE32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"
_B32_VALUE = {c: i for i, c in enumerate(NIXBASE32_ALPHABET)}
_HEX_RE = re.compile(r"[0-9a-fA-F]*\Z")


class BadHash(NixliteError):
    """A malformed hash string or unknown algorithm."""


def parse_algo(name: str) -> str:
    """Check a hash algorithm name; Nix's message for an unknown one."""
    if name not in ALGOS:
        raise BadHash(f"unknown hash algorithm '{name}'")
    return name


def base16_len(size: int) -> int:
    return size * 2


def base32_len(size: int) -> int:
    return (size * 8 - 1) // 5 + 1


def base64_len(size: int) -> int:
    return ((4 * size // 3) + 3) & ~3


_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", NIXBASE32_ALPHABET.encode())


def nixbase32_encode(data: bytes) -> str:
    """Nix base-32: the bytes as a little-endian integer, most significant digit first.

    The digits are the integer's 5·L-bit big-endian form cut into 5-bit groups,
    which is what RFC 4648 base32 produces from the same bits: so shift the
    integer to a whole number of 40-bit blocks and let ``b32encode`` do the
    work in C, then map the alphabet.
    """
    if not data:
        return ""
    length = base32_len(len(data))
    blocks = (length + 7) // 8
    n = int.from_bytes(data, "little") << (blocks * 40 - length * 5)
    return base64.b32encode(n.to_bytes(blocks * 5, "big"))[:length].translate(_FROM_RFC4648).decode()


def nixbase32_decode(s: str, size: int) -> bytes:
    """Inverse of ``nixbase32_encode`` for a ``size``-byte value; rejects excess bits."""
    n = 0
    table = _B32_VALUE
    for c in s:
        d = table.get(c)
        if d is None:
            raise BadHash(f"invalid base-32 hash '{s}'")
        n = (n << 5) | d
    if n >> (8 * size):
        raise BadHash(f"invalid base-32 hash '{s}'")
    return n.to_bytes(size, "little")


def fold(digest: bytes, size: int = 20) -> bytes:
    """XOR-fold ``digest`` into ``size`` bytes (Nix's compressHash)."""
    out = bytearray(size)
    for i, b in enumerate(digest):
        out[i % size] ^= b
    return bytes(out)


class Hash:
    """A digest together with its algorithm."""

    __slots__ = ("algo", "digest")

    def __init__(self, algo: str, digest: bytes) -> None:
        self.algo = algo
        self.digest = digest

    def __eq__(self, other: object) -> bool:
        return type(other) is Hash and other.algo == self.algo and other.digest == self.digest

    def __hash__(self) -> int:
        return hash((self.algo, self.digest))

    def __repr__(self) -> str:
        return f"Hash({self.sri()!r})"

    def hex(self) -> str:
        return self.digest.hex()

    def base32(self) -> str:
        return nixbase32_encode(self.digest)

    def base64(self) -> str:
        return base64.b64encode(self.digest).decode("ascii")

    def sri(self) -> str:
        return f"{self.algo}-{self.base64()}"

    def to_string(self, fmt: str = "base32", prefix: bool = True) -> str:
        """``fmt``: base16/hex, base32/nix32, base64, sri (SRI always has its prefix)."""
        if fmt == "sri":
            return self.sri()
        if fmt in ("base16", "hex"):
            body = self.hex()
        elif fmt in ("base32", "nix32"):
            body = self.base32()
        elif fmt == "base64":
            body = self.base64()
        else:
            raise ValueError(f"unknown hash format {fmt!r}")
        return f"{self.algo}:{body}" if prefix else body


def zero_hash(algo: str) -> Hash:
    return Hash(algo, bytes(ALGOS[algo]))


def hasher(algo: str):
    """A streaming ``hashlib`` object for ``algo``."""
    return hashlib.new(parse_algo(algo))


def hash_bytes(algo: str, data: bytes) -> Hash:
    return Hash(algo, hashlib.new(parse_algo(algo), data).digest())


def hash_file(algo: str, path: str) -> Hash:
    """Hash the raw bytes of a file (not its NAR), reading in large blocks."""
    h = hasher(algo)
    with open(path, "rb") as f:
        hash_stream(h, f)
    return Hash(algo, h.digest())


def hash_stream(h, stream, out=None) -> None:
    """Feed ``stream`` to the hasher ``h`` in 1 MiB blocks, copying them to ``out`` if given."""
    while block := stream.read(1 << 20):
        h.update(block)
        if out is not None:
            out.write(block)


def _decode_body(body: str, algo: str, is_sri: bool) -> Hash:
    """Nix's ``Hash(string, type, isSRI)``: the encoding is chosen by length."""
    size = ALGOS[algo]
    if not is_sri and len(body) == base16_len(size):
        if not _HEX_RE.match(body):
            raise BadHash(f"invalid base-16 hash '{body}'")
        return Hash(algo, bytes.fromhex(body))
    if not is_sri and len(body) == base32_len(size):
        return Hash(algo, nixbase32_decode(body, size))
    if is_sri or len(body) == base64_len(size):
        try:
            digest = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            bad = next((c for c in body if not (c.isalnum() or c in "+/=")), None)
            if bad is not None:
                raise BadHash(f"invalid character in Base64 string: '{bad}'") from None
            digest = b""
        if len(digest) != size:
            raise BadHash(f"invalid {'SRI' if is_sri else 'base-64'} hash '{body}'")
        return Hash(algo, digest)
    raise BadHash(f"hash '{body}' has wrong length for hash type '{algo}'")


def parse_hash(s: str, algo: str | None = None) -> Hash:
    """Nix's ``Hash::parseAny``: ``algo:body``, ``algo-base64`` (SRI) or a bare body.

    A prefix names the algorithm; otherwise ``algo`` (from context) must; when
    both exist they must agree.
    """
    body = s
    prefix = None
    is_sri = False
    if ":" in s:
        prefix, body = s.split(":", 1)
    elif "-" in s:
        prefix, body = s.split("-", 1)
        is_sri = True
    if prefix is not None:
        parse_algo(prefix)
    if prefix is None and algo is None:
        raise BadHash(
            f"hash '{body}' does not include a type, nor is the type otherwise known from context"
        )
    if prefix is not None and algo is not None and prefix != algo:
        raise BadHash(f"hash '{s}' should have type '{algo}'")
    return _decode_body(body, prefix or algo, is_sri)


def parse_hash_allow_empty(s: str, algo: str | None) -> tuple[Hash, bool]:
    """``parse_hash``, but ``""`` means the all-zero hash; returns ``(hash, was_empty)``.

    The caller prints Nix's warning ``found empty hash, assuming '<sri>'``.
    """
    if s == "":
        if algo is None:
            raise BadHash("empty hash requires explicit hash type")
        return zero_hash(algo), True
    return parse_hash(s, algo), False

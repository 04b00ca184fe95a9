"""Store derivations: the model, the ATerm text of ``.drv`` files, and hashing.

``Derivation.unparse`` writes the exact bytes Nix writes; ``parse_derivation``
reads them back.  ``DrvHasher`` computes Nix's ``hashDerivationModulo`` with
memoisation (each input ``.drv`` is hashed once per process), and
``finalize_input_addressed`` / ``finalize_fixed_output`` fill in output paths
the way ``derivationStrict`` does.  Pure: loading input derivations is done
by a callback the caller provides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from nixlite.errors import NixliteError
from nixlite.store.hashes import Hash
from nixlite.store.paths import (
    make_fixed_output_path,
    make_output_path,
    text_path_of,
)


class DerivationError(NixliteError):
    """A malformed ``.drv`` file or an inconsistent derivation."""


class DrvOutput:
    """One output: its path and, for fixed outputs, the method/algo and hex digest."""

    __slots__ = ("path", "hash_algo", "hash")

    def __init__(self, path: str, hash_algo: str = "", hash: str = "") -> None:
        self.path = path
        self.hash_algo = hash_algo  # "", "sha256", "r:sha256", …
        self.hash = hash  # base16 digest or ""

    def __eq__(self, other: object) -> bool:
        return (type(other) is DrvOutput and other.path == self.path
                and other.hash_algo == self.hash_algo and other.hash == self.hash)

    def __repr__(self) -> str:
        return f"DrvOutput({self.path!r}, {self.hash_algo!r}, {self.hash!r})"


class Derivation:
    __slots__ = ("name", "outputs", "input_drvs", "input_srcs", "platform", "builder",
                 "args", "env")

    def __init__(self, name: str = "", outputs: dict[str, DrvOutput] | None = None,
                 input_drvs: dict[str, set[str]] | None = None,
                 input_srcs: set[str] | None = None, platform: str = "",
                 builder: str = "", args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.outputs = outputs if outputs is not None else {}
        self.input_drvs = input_drvs if input_drvs is not None else {}
        self.input_srcs = input_srcs if input_srcs is not None else set()
        self.platform = platform
        self.builder = builder
        self.args = args if args is not None else []
        self.env = env if env is not None else {}

    def is_fixed_output(self) -> bool:
        outs = self.outputs
        return len(outs) == 1 and "out" in outs and outs["out"].hash_algo != ""

    def references(self) -> set[str]:
        """What the ``.drv`` file refers to: its sources and input ``.drv`` files."""
        return set(self.input_srcs) | set(self.input_drvs)

    def unparse(self, mask_outputs: bool = False,
                input_drvs: dict[str, set[str]] | None = None) -> str:
        """The ATerm text; ``input_drvs`` replaces the inputs (hashDerivationModulo)."""
        parts = ["Derive(["]
        first = True
        for name in sorted(self.outputs):
            o = self.outputs[name]
            if not first:
                parts.append(",")
            first = False
            path = "" if mask_outputs else o.path
            parts.append(f'("{name}","{path}","{o.hash_algo}","{o.hash}")')
        parts.append("],[")
        inputs = self.input_drvs if input_drvs is None else input_drvs
        parts.append(",".join(
            f'("{p}",[' + ",".join(f'"{o}"' for o in sorted(inputs[p])) + "])"
            for p in sorted(inputs)
        ))
        parts.append("],[")
        parts.append(",".join(f'"{p}"' for p in sorted(self.input_srcs)))
        parts.append(f'],"{self.platform}",{quote(self.builder)},[')
        parts.append(",".join(quote(a) for a in self.args))
        parts.append("],[")
        env = self.env
        if mask_outputs:
            parts.append(",".join(
                f"({quote(k)},{quote('' if k in self.outputs else env[k])})" for k in sorted(env)
            ))
        else:
            parts.append(",".join(f"({quote(k)},{quote(env[k])})" for k in sorted(env)))
        parts.append("])")
        return "".join(parts)

    def to_bytes(self) -> bytes:
        return encode(self.unparse())

    def drv_path(self) -> str:
        """The store path of this derivation's ``.drv`` file."""
        return text_path_of(self.name + ".drv", self.to_bytes(), self.references())


def encode(text: str) -> bytes:
    """Nix strings are bytes; ours are str that may carry undecodable bytes as surrogates."""
    return text.encode("utf-8", "surrogateescape")


# backslash first, so the backslashes the others add are not escaped again
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def quote(s: str) -> str:
    """An escaped ATerm string (only ``" \\ \\n \\r \\t`` are escaped, as in Nix).

    One ``str.replace`` per character present: ``str.translate`` with a table of
    multi-character replacements took ~100 ns a character, and derivation
    environments carry whole build scripts."""
    for char, escaped in _ESCAPES:
        if char in s:
            s = s.replace(char, escaped)
    return '"' + s + '"'


# --------------------------------------------------------------------------
# parsing


class _Reader:
    __slots__ = ("s", "i", "path")

    def __init__(self, s: str, path: str) -> None:
        self.s = s
        self.i = 0
        self.path = path

    def fail(self, what: str):
        raise DerivationError(f"error parsing derivation '{self.path}': {what}")

    def expect(self, token: str) -> None:
        if not self.s.startswith(token, self.i):
            self.fail(f"expected string '{token}'")
        self.i += len(token)

    def peek(self, c: str) -> bool:
        return self.s.startswith(c, self.i)

    def string(self) -> str:
        s = self.s
        if not s.startswith('"', self.i):
            self.fail("expected string")
        i = self.i + 1
        out = []
        while True:
            j = i
            while j < len(s) and s[j] != '"' and s[j] != "\\":
                j += 1
            if j >= len(s):
                self.fail("unterminated string")
            out.append(s[i:j])
            if s[j] == '"':
                self.i = j + 1
                return "".join(out)
            c = s[j + 1:j + 2]
            out.append({"n": "\n", "r": "\r", "t": "\t"}.get(c, c))
            i = j + 2

    def string_list(self) -> list[str]:
        self.expect("[")
        out = []
        while not self.peek("]"):
            if out:
                self.expect(",")
            out.append(self.string())
        self.expect("]")
        return out


def parse_derivation(text: str, name: str, path: str = "<drv>") -> Derivation:
    """Parse ``.drv`` ATerm text; ``name`` is the derivation name (file name minus ``.drv``)."""
    r = _Reader(text, path)
    r.expect("Derive([")
    drv = Derivation(name=name)
    while not r.peek("]"):
        if drv.outputs:
            r.expect(",")
        r.expect("(")
        oname = r.string()
        r.expect(",")
        opath = r.string()
        r.expect(",")
        algo = r.string()
        r.expect(",")
        h = r.string()
        r.expect(")")
        drv.outputs[oname] = DrvOutput(opath, algo, h)
    r.expect("],[")
    while not r.peek("]"):
        if drv.input_drvs:
            r.expect(",")
        r.expect("(")
        p = r.string()
        r.expect(",")
        drv.input_drvs[p] = set(r.string_list())
        r.expect(")")
    r.expect("],")
    drv.input_srcs = set(r.string_list())
    r.expect(",")
    drv.platform = r.string()
    r.expect(",")
    drv.builder = r.string()
    r.expect(",")
    drv.args = r.string_list()
    r.expect(",[")
    while not r.peek("]"):
        if drv.env:
            r.expect(",")
        r.expect("(")
        k = r.string()
        r.expect(",")
        drv.env[k] = r.string()
        r.expect(")")
    r.expect("])")
    if r.i != len(text):
        r.fail("trailing data")
    return drv


# --------------------------------------------------------------------------
# hashing


class DrvHasher:
    """``hashDerivationModulo`` with a per-process memo keyed by ``.drv`` path.

    ``load(path) -> Derivation`` supplies input derivations (from memory or
    the store).  A fixed-output derivation hashes to a map output → digest of
    ``fixed:out:<methodAlgo>:<hex>:<outPath>``; any other to one digest of its
    ATerm with each input ``.drv`` replaced by the hex of its own modulo hash.
    """

    __slots__ = ("load", "memo")

    def __init__(self, load: Callable[[str], Derivation]) -> None:
        self.load = load
        self.memo: dict[str, bytes | dict[str, bytes]] = {}

    def of_path(self, drv_path: str) -> bytes | dict[str, bytes]:
        h = self.memo.get(drv_path)
        if h is None:
            h = self.modulo(self.load(drv_path), False)
            self.memo[drv_path] = h
        return h

    def modulo(self, drv: Derivation, mask_outputs: bool) -> bytes | dict[str, bytes]:
        if drv.is_fixed_output():
            return {
                name: hashlib.sha256(
                    f"fixed:out:{o.hash_algo}:{o.hash}:{o.path}".encode()
                ).digest()
                for name, o in drv.outputs.items()
            }
        replaced: dict[str, set[str]] = {}
        for path, wanted in drv.input_drvs.items():
            h = self.of_path(path)
            if type(h) is dict:
                # a fixed-output input stands for its output hash, as output "out"
                for oname in wanted:
                    if oname in h:
                        replaced.setdefault(h[oname].hex(), set()).add("out")
            else:
                replaced.setdefault(h.hex(), set()).update(wanted)
        return hashlib.sha256(encode(drv.unparse(mask_outputs, replaced))).digest()


def finalize_input_addressed(drv: Derivation, hasher: DrvHasher) -> None:
    """Compute and fill in output paths (outputs and env) of an input-addressed drv."""
    for name in drv.outputs:
        drv.outputs[name] = DrvOutput("")
        drv.env[name] = ""
    h = hasher.modulo(drv, True)
    for name in drv.outputs:
        p = make_output_path(name, h, drv.name)
        drv.outputs[name] = DrvOutput(p)
        drv.env[name] = p


def finalize_fixed_output(drv: Derivation, recursive: bool, h: Hash) -> str:
    """Fill in the single ``out`` of a fixed-output derivation; returns its path."""
    p = make_fixed_output_path(recursive, h, drv.name)
    drv.outputs = {"out": DrvOutput(p, ("r:" if recursive else "") + h.algo, h.hex())}
    drv.env["out"] = p
    return p


# --------------------------------------------------------------------------
# Nix 2.8's JSON writer (``__json`` of structured attrs, ``toJSON``)
#
# 2.8 wrote JSON with its own writer: floats as C++ ostream default (``%g``,
# 6 significant digits), control characters other than \n \r \t as \u00XX.
# Nix 2.12 moved to nlohmann::json (shortest round-trip floats, \b and \f
# short escapes), which changes structured-attrs paths that contain floats.


def json_string_28(s: str) -> str:
    out = ['"']
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c < " ":
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def json_float_28(f: float) -> str:
    return "%g" % f

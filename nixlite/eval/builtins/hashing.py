"""``hashString`` and ``convertHash``, on top of the store's hash encodings
(``nixlite.store.hashes``, a pure module evaluation may import)."""

from __future__ import annotations

import hashlib

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import attrs_arg, str_arg, str_noctx_arg, to_bytes
from nixlite.eval.values import EvalError
from nixlite.store.hashes import ALGOS, BadHash, parse_hash

_FORMATS = {"base16": "base16", "nix32": "nix32", "base32": "nix32", "base64": "base64", "sri": "sri"}


def _algo(name: str) -> str:
    if name not in ALGOS:
        raise EvalError(
            f"unknown hash algorithm '{name}', expect 'blake3', 'md5', 'sha1', 'sha256', or 'sha512'"
        )
    return name


@builtin("hashString", 2)
def hash_string(algo, s):
    algo = _algo(str_noctx_arg(algo, "while evaluating the first argument passed to builtins.hashString"))
    s = str_arg(s, "while evaluating the second argument passed to builtins.hashString")
    return hashlib.new(algo, to_bytes(s)).hexdigest()


@builtin("convertHash", 1)
def convert_hash(args):
    args = attrs_arg(args, "while evaluating the first argument passed to builtins.convertHash")
    if "hash" not in args:
        raise EvalError("attribute 'hash' missing").add_trace("while locating the attribute 'hash'")
    text = str_noctx_arg(args["hash"], "while evaluating the attribute 'hash'")
    algo = None
    if "hashAlgo" in args:
        algo = _algo(str_noctx_arg(args["hashAlgo"], "while evaluating the attribute 'hashAlgo'"))
    if "toHashFormat" not in args:
        raise EvalError("attribute 'toHashFormat' missing").add_trace(
            "while locating the attribute 'toHashFormat'")
    fmt_name = str_noctx_arg(args["toHashFormat"], "while evaluating the attribute 'toHashFormat'")
    fmt = _FORMATS.get(fmt_name)
    if fmt is None:
        raise EvalError(
            f"unknown hash format '{fmt_name}', expect 'base16', 'base32', 'base64', or 'sri'"
        )
    try:
        h = parse_hash(text, algo)
    except BadHash as e:
        msg = e.message
        if msg.startswith("unknown hash algorithm '"):
            name = msg.split("'")[1]
            msg = (f"unknown hash algorithm '{name}', expect 'blake3', 'md5', 'sha1', "
                   "'sha256', or 'sha512'")
        # Today's Nix says "hash algorithm" where 2.8 said "hash type".
        msg = msg.replace("for hash type '", "for hash algorithm '")
        raise EvalError(msg) from None
    return h.to_string(fmt, prefix=fmt == "sri")

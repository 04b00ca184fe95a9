"""``fetchurl``, ``fetchTarball`` and ``fetchGit``: argument handling as in Nix 2.8.

The work (download, unpack, Git export, hash checks, caching) is done by
``nixlite.store.fetch`` behind ``state.io.fetch``; this module turns Nix
arguments into its parameters and its results into Nix values.
"""

from __future__ import annotations

import re

from nixlite.errors import NixliteError
from nixlite.eval import ops
from nixlite.eval.builtins import builtin
from nixlite.eval.values import (
    as_eval_error,
    Attrs,
    CStr,
    EvalError,
    NixPath,
    force,
    force_str_noctx,
    type_name,
)
from nixlite.store.hashes import BadHash, parse_hash, parse_hash_allow_empty

_REV = re.compile(r"[0-9a-f]{40}\Z")
_REF = re.compile(r"[a-zA-Z0-9@][a-zA-Z0-9_.\/@+-]*\Z")


def _url_fetch(state, arg, who: str, unpack: bool):
    v = force(arg)
    url = None
    name = ""
    expected = None
    if type(v) is Attrs:
        for key in sorted(v):
            if key == "url":
                url = str(force_str_noctx(v[key]))
            elif key == "sha256":
                try:
                    expected, _ = parse_hash_allow_empty(str(force_str_noctx(v[key])), "sha256")
                except BadHash as exc:
                    raise EvalError(exc.message) from None
            elif key == "name":
                name = str(force_str_noctx(v[key]))
            else:
                raise EvalError(f"unsupported argument '{key}' to '{who}'").at(v.attr_pos(key))
        if url is None:
            raise EvalError("'url' argument required")
    else:
        url = str(force_str_noctx(v))
    if state.pure and expected is None:
        raise EvalError(f"in pure evaluation mode, '{who}' requires a 'sha256' argument")
    try:
        result = state.io.fetch("tarball" if unpack else "url", url=url, name=name or None,
                                expected=expected)
    except NixliteError as exc:
        raise as_eval_error(exc) from None
    path = result["path"]
    return CStr(path, frozenset((path,)))


@builtin("fetchurl", 1, state=True)
def fetchurl(state, arg):
    return _url_fetch(state, arg, "fetchurl", False)


@builtin("fetchTarball", 1, state=True)
def fetch_tarball(state, arg):
    return _url_fetch(state, arg, "fetchTarball", True)


_GIT_ATTRS = {"url", "ref", "rev", "shallow", "submodules", "lastModified", "revCount",
              "narHash", "allRefs", "name"}


def _string_or_path(v) -> str:
    v = force(v)
    if type(v) is NixPath:
        return v.path
    return str(ops.coerce_to_string(v, copy_to_store=None))


@builtin("fetchGit", 1, state=True)
def fetch_git(state, arg):
    v = force(arg)
    params: dict = {}
    if type(v) is Attrs:
        for key in sorted(v):
            item = force(v[key])
            t = type(item)
            if t is bool or t is int:
                params[key] = item
            elif t is str or t is CStr or t is NixPath:
                params[key] = _string_or_path(item)
            else:
                raise EvalError(f"fetchTree argument '{key}' is {type_name(item)} while a string, "
                                "Boolean or integer is expected")
        for key in params:
            if key not in _GIT_ATTRS:
                raise EvalError(f"unsupported Git input attribute '{key}'")
        if "url" not in params:
            raise EvalError("attribute 'url' is missing")
    else:
        params["url"] = _string_or_path(v)
    url = params["url"]
    rev = params.get("rev")
    ref = params.get("ref")
    if rev is not None and not _REV.match(rev):
        raise EvalError(f"invalid Git revision '{rev}'")
    if ref is not None and not _REF.match(ref):
        raise EvalError(f"invalid Git branch/tag name '{ref}'")
    if state.pure and rev is None:
        raise EvalError("in pure evaluation mode, 'fetchTree' requires a locked input")
    expected = None
    if "narHash" in params:
        try:
            expected = parse_hash(params["narHash"])
        except BadHash as exc:
            raise EvalError(exc.message) from None
    submodules = bool(params.get("submodules", False))
    try:
        r = state.io.fetch(
            "git", url=url[len("file://"):] if url.startswith("file://") else url, ref=ref, rev=rev,
            name=params.get("name", "source"), submodules=submodules,
            shallow=bool(params.get("shallow", False)), all_refs=bool(params.get("allRefs", False)),
            nar_hash_expected=expected, warn=state.trace_sink)
    except NixliteError as exc:
        raise as_eval_error(exc) from None
    from nixlite.store.fetch import format_last_modified

    path = r["path"]
    rev_hex = r["rev"] or "0" * 40
    out = Attrs()
    out["lastModified"] = r["lastModified"]
    out["lastModifiedDate"] = format_last_modified(r["lastModified"])
    out["narHash"] = r["narHash"]
    out["outPath"] = CStr(path, frozenset((path,)))
    out["rev"] = rev_hex
    out["revCount"] = r["revCount"] or 0
    out["shortRev"] = rev_hex[:7]
    out["submodules"] = submodules
    return out


@builtin("fetchTree", 1)
def fetch_tree(arg):
    # Nix 2.8 gates fetchTree behind the experimental 'flakes' feature (today: 'fetch-tree').
    raise EvalError("experimental Nix feature 'flakes' is disabled; use "
                    "'--extra-experimental-features flakes' to override")

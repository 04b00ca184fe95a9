"""``parseFlakeRef`` and ``flakeRefToString`` (today's Nix, behind the ``flakes``
feature): a flake reference's URL form and its attribute-set form, both ways.

Covered: indirect references (``nixpkgs``, ``flake:nixpkgs/branch``), ``github:``,
``gitlab:`` and ``sourcehut:`` (``owner/repo[/ref-or-rev]``), ``git+…`` URLs,
``path:`` and absolute paths, and ``http(s)``/``file`` URLs (``tarball`` when they
name an archive, else ``file``; ``tarball+``/``file+`` force the type).  Query
parameters become attributes (``dir`` too); ``1``/``0`` for the Boolean
ones (``submodules``, ``shallow``…), digits for the counters.  Unlike Nix, a path is
not looked at on disk (no ``flake.nix`` or ``.git`` lookup).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import attrs_arg, str_noctx_arg
from nixlite.eval.values import Attrs, CStr, EvalError, force, type_name

_REV = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ID = re.compile(r"[a-zA-Z][a-zA-Z0-9_-]*")
_REF = re.compile(r"[a-zA-Z0-9@][a-zA-Z0-9_.\/@+-]*")
_FORGES = ("github", "gitlab", "sourcehut")
_BOOLEANS = {"submodules", "shallow", "exportIgnore", "allRefs", "lfs", "verifyCommit"}
_COUNTERS = {"revCount", "lastModified"}
_ARCHIVES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.xz", ".tar.bz2", ".tar.zst")


def _query(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in filter(None, text.split("&")):
        key, _, value = pair.partition("=")
        value = unquote(value)
        if key in _BOOLEANS:
            out[key] = value == "1"
        elif key in _COUNTERS and value.isdigit():
            out[key] = int(value)
        else:
            out[key] = value
    return out


def parse_flake_ref(text: str) -> dict[str, object]:
    """The attribute-set form of ``text`` (a fragment ``#…`` is not allowed here)."""
    if "#" in text:
        raise EvalError(f"unexpected fragment '{text.split('#', 1)[1]}' in flake reference '{text}'")
    base, _, query = text.partition("?")
    params = _query(query)
    scheme, colon, rest = base.partition(":")
    if not colon:
        scheme, rest = ("path", base) if base.startswith("/") else ("flake", base)
    if scheme == "flake":
        parts = rest.split("/")
        if not _ID.fullmatch(parts[0]) or len(parts) > 3:
            raise EvalError(f"'{text}' is not a valid flake reference")
        out: dict[str, object] = {"type": "indirect", "id": parts[0]}
        for part in parts[1:]:
            out["rev" if _REV.fullmatch(part) else "ref"] = part
        return {**out, **params}
    if scheme in _FORGES:
        parts = rest.split("/")
        if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
            raise EvalError(f"'{text}' is not a valid URL for a {scheme} flake reference; "
                            f"use '{scheme}:owner/repo[/ref-or-rev]'")
        out = {"type": scheme, "owner": parts[0], "repo": parts[1]}
        if len(parts) == 3:
            out["rev" if _REV.fullmatch(parts[2]) else "ref"] = parts[2]
        return {**out, **params}
    if scheme == "path":
        return {"type": "path", "path": unquote(rest), **params}
    if scheme.startswith("git+"):
        return {"type": "git", "url": scheme[4:] + ":" + rest, **params}
    forced = scheme.partition("+")[0] if scheme.startswith(("tarball+", "file+")) else None
    url_scheme = scheme.partition("+")[2] if forced else scheme
    if url_scheme in ("http", "https", "file"):
        kind = forced or ("tarball" if base.endswith(_ARCHIVES) else "file")
        url = url_scheme + ":" + rest + ("?" + query if query else "")
        return {"type": kind, "url": url}
    raise EvalError(f"input '{text}' is unsupported")


def flake_ref_to_string(attrs: dict[str, object]) -> str:
    """The URL form of a flake reference's attribute set."""
    attrs = dict(attrs)
    kind = attrs.pop("type", None)
    if kind is None:
        raise EvalError("flake reference attribute set is missing the 'type' attribute")
    if kind == "indirect":
        path = "/".join(str(attrs.pop(k)) for k in ("id", "ref", "rev") if k in attrs)
        return "flake:" + path + _render_query(attrs)
    if kind in _FORGES:
        path = f"{attrs.pop('owner', '')}/{attrs.pop('repo', '')}"
        for key in ("rev", "ref"):
            if key in attrs:
                path += "/" + str(attrs.pop(key))
                break
        return f"{kind}:{path}" + _render_query(attrs)
    if kind == "path":
        return "path:" + str(attrs.pop("path", "")) + _render_query(attrs)
    if kind == "git":
        return "git+" + str(attrs.pop("url", "")) + _render_query(attrs)
    if kind in ("tarball", "file"):
        url = str(attrs.pop("url", ""))
        return url + _render_query(attrs, "&" if "?" in url else "?")
    raise EvalError(f"unsupported input type '{kind}'")


def _render_query(attrs: dict[str, object], lead: str = "?") -> str:
    if not attrs:
        return ""
    def show(v):
        return ("1" if v else "0") if type(v) is bool else quote(str(v), safe="/:@+-._~")
    return lead + "&".join(f"{k}={show(attrs[k])}" for k in sorted(attrs))


@builtin("parseFlakeRef", 1)
def parse_flake_ref_builtin(s):
    text = str_noctx_arg(s, "while evaluating the argument passed to builtins.parseFlakeRef")
    return Attrs(sorted(parse_flake_ref(text).items()))


@builtin("flakeRefToString", 1)
def flake_ref_to_string_builtin(a):
    a = attrs_arg(a, "while evaluating the argument passed to builtins.flakeRefToString")
    attrs: dict[str, object] = {}
    for name in sorted(a):
        v = force(a[name])
        t = type(v)
        if t is int:
            if v < 0:
                raise EvalError(f"negative value given for flake ref attr {name}: {v}")
            attrs[name] = v
        elif t is bool or t is str or t is CStr:
            attrs[name] = v if t is not CStr else str.__str__(v)
        else:
            raise EvalError("flake reference attribute sets may only contain integers, Booleans, "
                            f"and strings, but attribute '{name}' is {type_name(v)}")
    return flake_ref_to_string(attrs)

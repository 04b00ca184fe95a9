"""Version strings as Nix splits and orders them (``compareVersions``,
``splitVersion``, ``parseDrvName``), also used by ``nix-env``-style logic."""

from __future__ import annotations

from nixlite.eval.builtins import builtin
from nixlite.eval.builtins._common import str_noctx_arg
from nixlite.eval.values import Attrs

_INT32_MAX = (1 << 31) - 1


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def split_version(v: str) -> list[str]:
    """Components: runs of digits or runs of other characters; ``.`` and ``-`` separate."""
    out: list[str] = []
    i = 0
    n = len(v)
    while i < n:
        while i < n and (v[i] == "." or v[i] == "-"):
            i += 1
        if i == n:
            break
        start = i
        if _is_digit(v[i]):
            while i < n and _is_digit(v[i]):
                i += 1
        else:
            while i < n and not _is_digit(v[i]) and v[i] != "." and v[i] != "-":
                i += 1
        out.append(v[start:i])
    return out


def _as_int(c: str) -> int | None:
    """Nix's ``string2Int<int>``: digits only and within a C ``int``."""
    if c and c.isascii() and c.isdigit() and len(c.lstrip("0")) <= 10:
        n = int(c)
        return n if n <= _INT32_MAX else None
    return None


def _component_lt(c1: str, c2: str) -> bool:
    n1 = _as_int(c1)
    n2 = _as_int(c2)
    if n1 is not None and n2 is not None:
        return n1 < n2
    if c1 == "" and n2 is not None:
        return True
    if c1 == "pre" and c2 != "pre":
        return True
    if c2 == "pre":
        return False
    # "2.3a" < "2.3.1"
    if n2 is not None:
        return True
    if n1 is not None:
        return False
    return c1.encode("utf-8", "surrogateescape") < c2.encode("utf-8", "surrogateescape")


def compare_versions(v1: str, v2: str) -> int:
    """-1, 0 or 1, as ``builtins.compareVersions``."""
    c1s = split_version(v1)
    c2s = split_version(v2)
    for i in range(max(len(c1s), len(c2s))):
        a = c1s[i] if i < len(c1s) else ""
        b = c2s[i] if i < len(c2s) else ""
        if _component_lt(a, b):
            return -1
        if _component_lt(b, a):
            return 1
    return 0


def parse_drv_name(s: str) -> tuple[str, str]:
    """Split at the first ``-`` followed by a non-letter: ``("name", "version")``."""
    for i in range(len(s) - 1):
        if s[i] == "-" and not (s[i + 1].isascii() and s[i + 1].isalpha()):
            return s[:i], s[i + 1:]
    return s, ""


@builtin("compareVersions", 2)
def compare_versions_builtin(a, b):
    a = str_noctx_arg(a, "while evaluating the first argument passed to builtins.compareVersions")
    b = str_noctx_arg(b, "while evaluating the second argument passed to builtins.compareVersions")
    return compare_versions(a, b)


@builtin("splitVersion", 1)
def split_version_builtin(v):
    return split_version(str_noctx_arg(v, "while evaluating the first argument passed to builtins.splitVersion"))


@builtin("parseDrvName", 1)
def parse_drv_name_builtin(s):
    s = str_noctx_arg(s, "while evaluating the first argument passed to builtins.parseDrvName")
    name, version = parse_drv_name(s)
    return Attrs(name=name, version=version)

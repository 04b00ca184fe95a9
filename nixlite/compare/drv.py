"""Why two derivations differ, explained through their inputs, as nix-diff explains it.

Two ``.drv`` paths that are equal are identical with everything below them (the path is a
hash of it all), so the comparison stops there.  Otherwise it reports what differs in the
derivations themselves — name, outputs (their names; a fixed output's hash), platform,
builder, arguments, environment variables (not those holding the derivation's own output
paths, which differ whenever anything does), input sources paired by name — and pairs the
input derivations by name: each pair that differs is explained the same way, one level
down.  Every node knows the chain of names from the root, so each difference shows how it
is reached.  A pair met again (a shared input) is marked ``seen`` rather than repeated.

Each side has its own loader (path → ``Derivation``): nixlite's store, ``.drv`` files on
disk, or an installed Nix's store (``--against-nix``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nixlite.errors import NixliteError
from nixlite.store.derivation import Derivation, parse_derivation

Loader = Callable[[str], Derivation]
Reader = Callable[[str], "bytes | None"]  # a source file's bytes (None: not a small file)
SOURCE_TEXT_LIMIT = 1 << 20
_HASHED = re.compile(r"^[0-9a-df-np-sv-z]{32}-")


@dataclass(slots=True)
class Change:
    """One difference: ``what`` is name, output, platform, builder, args, env, source,
    input (an input derivation only one side has, or one whose outputs used differ) or
    input-changed (a pair explained in ``DrvNode.inputs``); ``name`` the output, variable,
    source or input name; ``a``/``b`` the values (None where a side has none)."""

    what: str
    name: str
    a: Any
    b: Any
    texts: tuple[str, str] | None = None  # a changed source file's two texts, if text


@dataclass(slots=True)
class DrvNode:
    name: str
    chain: list[str]
    a: str
    b: str
    changes: list[Change] = field(default_factory=list)
    inputs: list[DrvNode] = field(default_factory=list)
    seen: bool = False

    def walk(self):
        yield self
        for child in self.inputs:
            yield from child.walk()


def drv_name(path: str) -> str:
    """A derivation's name from its path (``/nix/store/HASH-NAME.drv`` or ``NAME.drv``)."""
    base = os.path.basename(path).removesuffix(".drv")
    return _HASHED.sub("", base)


def source_reader(physical: Callable[[str], str | None]) -> Reader:
    """Reads a source path's bytes if it is a regular file of at most
    ``SOURCE_TEXT_LIMIT`` bytes (``physical`` as for ``file_loader``)."""

    def read(path: str) -> bytes | None:
        real = physical(path) or path
        try:
            if not os.path.isfile(real) or os.path.getsize(real) > SOURCE_TEXT_LIMIT:
                return None
            with open(real, "rb") as f:
                return f.read()
        except OSError:
            return None

    return read


def _texts(read_a: Reader | None, read_b: Reader | None, a: str, b: str):
    if read_a is None or read_b is None:
        return None
    found = []
    for data in (read_a(a), read_b(b)):
        if data is None or b"\0" in data:
            return None
        try:
            found.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return tuple(found)


def file_loader(physical: Callable[[str], str | None]) -> Loader:
    """A loader reading ``.drv`` files: ``physical`` maps a path to the file to read, or
    None to read the path itself."""
    cache: dict[str, Derivation] = {}

    def load(path: str) -> Derivation:
        drv = cache.get(path)
        if drv is None:
            real = physical(path) or path
            try:
                with open(real, "rb") as f:
                    text = f.read().decode("utf-8", "surrogateescape")
            except FileNotFoundError:
                raise NixliteError(f"derivation '{path}' is not in the store (nor a file)") \
                    from None
            except OSError as e:
                raise NixliteError(f"cannot read derivation '{path}': {e.strerror}") from None
            drv = cache[path] = parse_derivation(text, drv_name(path), path)
        return drv

    return load


def _by_name(paths) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(paths):
        out.setdefault(drv_name(path), []).append(path)
    return out


def _pair_by_name(a, b) -> tuple[list[tuple[str, str, str]], list[Change]]:
    """Paths of a and b paired by name (``(name, path a, path b)``, equal paths left out),
    and the ones left without a partner."""
    pairs: list[tuple[str, str, str]] = []
    alone: list[Change] = []
    na, nb = _by_name(a), _by_name(b)
    for name in sorted(set(na) | set(nb)):
        pa = [p for p in na.get(name, []) if p not in b]
        pb = [p for p in nb.get(name, []) if p not in a]
        for x, y in zip(pa, pb):
            pairs.append((name, x, y))
        for x in pa[len(pb):]:
            alone.append(Change("", name, x, None))
        for y in pb[len(pa):]:
            alone.append(Change("", name, None, y))
    return pairs, alone


def _output_spec(drv: Derivation, name: str) -> str | None:
    out = drv.outputs.get(name)
    if out is None:
        return None
    return f"{out.hash_algo}:{out.hash}" if out.hash_algo else "(input-addressed)"


def _own_changes(da: Derivation, db: Derivation, read_a: Reader | None,
                 read_b: Reader | None) -> list[Change]:
    changes = []
    if da.name != db.name:
        changes.append(Change("name", "", da.name, db.name))
    for name in sorted(set(da.outputs) | set(db.outputs)):
        sa, sb = _output_spec(da, name), _output_spec(db, name)
        if sa != sb:
            changes.append(Change("output", name, sa, sb))
    for what in ("platform", "builder"):
        if getattr(da, what) != getattr(db, what):
            changes.append(Change(what, "", getattr(da, what), getattr(db, what)))
    if da.args != db.args:
        changes.append(Change("args", "", da.args, db.args))
    for name in sorted(set(da.env) | set(db.env)):
        va, vb = da.env.get(name), db.env.get(name)
        if va == vb or _is_own_output(da, name, va) and _is_own_output(db, name, vb):
            continue
        changes.append(Change("env", name, va, vb))
    pairs, alone = _pair_by_name(da.input_srcs, db.input_srcs)
    changes += [Change("source", name, x, y, _texts(read_a, read_b, x, y))
                for name, x, y in pairs]
    changes += [Change("source", c.name, c.a, c.b) for c in alone]
    return changes


def _is_own_output(drv: Derivation, name: str, value: str | None) -> bool:
    out = drv.outputs.get(name)
    return out is not None and value == out.path


def compare_drvs(a: str, b: str, load_a: Loader, load_b: Loader, read_a: Reader | None = None,
                 read_b: Reader | None = None) -> DrvNode | None:
    """How derivation ``b`` differs from ``a`` (None when they are the same path); with
    readers, a changed source that is text on both sides carries both texts."""
    if a == b:
        return None
    seen: set[tuple[str, str]] = set()

    def explain(pa: str, pb: str, chain: list[str]) -> DrvNode:
        node = DrvNode(drv_name(pb), chain, pa, pb)
        if (pa, pb) in seen:
            node.seen = True
            return node
        seen.add((pa, pb))
        da, db = load_a(pa), load_b(pb)
        node.changes = _own_changes(da, db, read_a, read_b)
        pairs, alone = _pair_by_name(da.input_drvs, db.input_drvs)
        for name, x, y in pairs:
            node.changes.append(Change("input-changed", name, x, y))
            node.inputs.append(explain(x, y, chain + [drv_name(y)]))
        node.changes += [Change("input", c.name, c.a, c.b) for c in alone]
        for path in sorted(set(da.input_drvs) & set(db.input_drvs)):
            if da.input_drvs[path] != db.input_drvs[path]:
                node.changes.append(Change("input", drv_name(path), sorted(da.input_drvs[path]),
                                           sorted(db.input_drvs[path])))
        return node

    return explain(a, b, [drv_name(b)])


# --- an installed Nix's view ------------------------------------------------------------------
def nix_instantiate(file: str, attrs: list[str], extra: list[str]) -> str:
    """The drvPath ``nix-instantiate FILE -A ATTR…`` gives (one derivation expected);
    ``extra`` are more of its flags (``--arg``, ``-I`` …)."""
    program = shutil.which("nix-instantiate")
    if program is None:
        raise NixliteError("--against-nix needs Nix's nix-instantiate, which is not on PATH "
                           "(install Nix, e.g. Debian's nix-bin)")
    argv = [program, file, *(a for attr in attrs for a in ("-A", attr)), *extra]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        message = proc.stderr.strip().removeprefix("error: ")
        raise NixliteError(f"nix-instantiate failed on '{file}':\n{message}")
    lines = proc.stdout.split()
    if len(lines) != 1:
        raise NixliteError(f"nix-instantiate gave {len(lines)} derivations for '{file}'; "
                           "select one with -A")
    return lines[0].split("!")[0]

"""Comparing two images semantically: config fields, the layer list, and files.

``compare_images(a, b, ignore=…, files=…)`` returns an ``ImageDiff``.  Layers are matched
first by diff_id (in order: the longest common subsequence is "identical", the rest of
equal diff_ids "moved"), then by content — the file paths they carry, with store hashes
masked — so a layer cut in two is "split", two layers joined are "merged", and a layer
whose files changed is "changed" (with its file differences).  What is left was "added"
or "removed".  Files are compared per matched layer (``files='layers'``), over the merged
file systems (``'merged'``, whiteouts applied), both, or not at all (``'none'``: no layer
is read; the layer list is then compared by diff_id alone).

``ignore`` is a set of keys (``IGNORE_KEYS``); ``parse_ignore`` reads the ``--ignore``
list with its aliases and groups.  Every layer is read at most once, as a stream (a layer
both images have by diff_id is read once for both), and only if something needs it.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nixlite.compare.files import (FileDiff, LayerFiles, diff_files, merge_layers,
                                  read_merged_file, scan_layer)
from nixlite.errors import NixliteError
from nixlite.image.model import Image
from nixlite.image.transports import Options, open_image, parse_location

# config fields shown first, in this order: (JSON key path, how it is shown, ignore key)
_FIELDS = [
    (("architecture",), "architecture", "architecture"),
    (("variant",), "variant", "variant"),
    (("os",), "os", "os"),
    (("os.version",), "os.version", "os"),
    (("os.features",), "os.features", "os"),
    (("created",), "created", "created"),
    (("author",), "author", "author"),
    (("config", "User"), "User", "user"),
    (("config", "WorkingDir"), "WorkingDir", "workingdir"),
    (("config", "Env"), "Env", "env"),
    (("config", "Entrypoint"), "Entrypoint", "entrypoint"),
    (("config", "Cmd"), "Cmd", "cmd"),
    (("config", "Labels"), "Labels", "labels"),
    (("config", "ExposedPorts"), "ExposedPorts", "ports"),
    (("config", "Volumes"), "Volumes", "volumes"),
    (("config", "StopSignal"), "StopSignal", "stopsignal"),
    (("config", "Healthcheck"), "Healthcheck", "healthcheck"),
    (("config", "Shell"), "Shell", "shell"),
    (("config", "OnBuild"), "OnBuild", "onbuild"),
    (("history",), "history", "history"),
]
_KNOWN_PATHS = {path for path, _, _ in _FIELDS} | {("rootfs",), ("config",)}

# "other": the config fields not listed above (docker_version, container_config, …)
CONFIG_KEYS = sorted({key for _, _, key in _FIELDS} | {"other"})
FILE_KEYS = ("type", "mode", "uid", "gid", "uname", "gname", "size", "content", "target",
             "link", "device", "mtime", "xattrs")
IGNORE_KEYS = sorted(set(CONFIG_KEYS) | set(FILE_KEYS) | {
    "name",        # the names an archive or layout records (RepoTags)
    "encoding",    # same content stored differently: compression, media types, JSON bytes,
                   # tar headers
    "file-order",  # the order of entries in a layer tar
})
# diffoci's flags and container-diff's words, as --ignore values
IGNORE_ALIASES = {
    "timestamps": ("created",),
    "file-timestamps": ("mtime",),
    "image-name": ("name",),
    "names": ("name",),  # as the summary line calls that difference
    "tar-format": ("encoding",),
    "compression": ("encoding",),
    "exposedports": ("ports",),
    "owner": ("uid", "gid", "uname", "gname"),
    "file-mode-redundant-bits": (),  # only permission bits are ever compared
    "semantic": ("created", "history", "mtime", "file-order", "encoding", "name"),
}
FILE_VIEWS = ("layers", "merged", "both", "none")


def parse_ignore(values: list[str]) -> frozenset[str]:
    """The keys a list of ``--ignore`` values (each comma-separated) names."""
    keys: set[str] = set()
    for value in values:
        for word in filter(None, (w.strip().lower() for w in value.split(","))):
            if word in IGNORE_ALIASES:
                keys.update(IGNORE_ALIASES[word])
            elif word in IGNORE_KEYS:
                keys.add(word)
            else:
                raise NixliteError(f"unknown --ignore key '{word}' (known: "
                                   f"{', '.join(IGNORE_KEYS)}; aliases: "
                                   f"{', '.join(sorted(IGNORE_ALIASES))})")
    return frozenset(keys)


@dataclass(slots=True)
class Side:
    """One image being compared: where it came from (as the user wrote it), the image, and
    its manifest flavour ('docker', 'oci', or None when it was read without one)."""

    label: str
    image: Image
    manifest: str | None = None


@contextlib.contextmanager
def open_side(text: str, options: Options = Options()) -> Iterator[Side]:
    """The image at a location (``nixlite.image.transports``' spellings, so a ``result``
    link to an archive too); a ``streamLayeredImage`` result — a script printing the
    archive — is run and its output read.  Registry layers are fetched only if read."""
    if is_stream_script(text):
        with subprocess.Popen([os.path.abspath(text)], stdout=subprocess.PIPE) as proc:
            try:  # the archive is spooled whole while it is opened
                with open_image(parse_location("-"), options, verify=False,
                                stdin=proc.stdout) as opened:
                    if proc.wait() != 0:
                        raise NixliteError(f"'{text}' (a script writing an image) failed with "
                                           f"exit status {proc.returncode}")
                    yield Side(text, opened.image)
            finally:
                proc.kill()
            return
    loc = parse_location(_container_diff_spelling(text))
    with open_image(loc, options, keep="lazy", verify=False) as opened:
        manifest = None
        if loc.transport in ("docker", "oci"):
            manifest = "oci" if opened.manifest_oci else "docker"
        yield Side(text, opened.image, manifest)


def _container_diff_spelling(text: str) -> str:
    """container-diff's ``remote://REF`` is ``docker://REF``; its ``daemon://`` reads a
    Docker daemon, which nixlite does not."""
    if text.startswith("remote://"):
        return "docker://" + text[len("remote://"):]
    if text.startswith("daemon://"):
        raise NixliteError(f"'{text}': nixlite reads no Docker daemon; save the image with "
                           f"'docker save -o FILE {text[len('daemon://'):]}' and compare FILE")
    return text


def is_stream_script(path: str) -> bool:
    """Whether ``path`` is an executable file starting with ``#!``."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return False
    with open(path, "rb") as f:
        return f.read(2) == b"#!"


@dataclass(slots=True)
class FieldChange:
    """A config field that differs.  ``details`` lists what changed inside a map or list
    field: ``('+'|'-'|'~'|'order', name, value in a, value in b)``."""

    field: str
    key: str
    a: Any
    b: Any
    details: list[tuple[str, str, Any, Any]] = field(default_factory=list)


@dataclass(slots=True)
class LayerMatch:
    """How layers of a (``a``: indices) correspond to layers of b.  ``kind`` is
    identical, moved, changed, split, merged, added or removed — or equivalent: changed
    only in what ``ignore`` leaves out; ``files`` the file
    differences inside a changed, split or merged match; ``notes`` the differences
    of encoding or order that leave the files equal."""

    kind: str
    a: list[int]
    b: list[int]
    files: FileDiff = field(default_factory=FileDiff)
    notes: list[str] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return self.kind not in ("identical", "equivalent") or bool(self.notes or self.files)


@dataclass(slots=True)
class ImageDiff:
    a: Side
    b: Side
    ignore: frozenset[str]
    view: str = "layers"
    fields: list[FieldChange] = field(default_factory=list)
    names: FieldChange | None = None
    encoding: list[str] = field(default_factory=list)
    layers: list[LayerMatch] = field(default_factory=list)
    merged: FileDiff | None = None
    # uncompressed layer sizes per side, when asked for (they say nothing the digests
    # do not: shown, never counted as a difference)
    sizes: tuple[list[int], list[int]] | None = None
    # the contents of files asked for by name: (path, bytes in a, bytes in b), None where
    # a side has no regular file there
    contents: list[tuple[str, bytes | None, bytes | None]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (self.fields or self.names or self.encoding or self.merged
                    or any(m.differs or m.files for m in self.layers))


# --- config -----------------------------------------------------------------------------------
def _get(config: dict, path: tuple[str, ...]) -> Any:
    value: Any = config
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _env_map(value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in value if isinstance(value, list) else []:
        name, _, text = str(item).partition("=")
        out[name] = text
    return out


def _map_details(a: dict, b: dict) -> list[tuple[str, str, Any, Any]]:
    details: list[tuple[str, str, Any, Any]] = []
    for name in sorted(set(a) | set(b)):
        if name not in b:
            details.append(("-", name, a[name], None))
        elif name not in a:
            details.append(("+", name, None, b[name]))
        elif a[name] != b[name]:
            details.append(("~", name, a[name], b[name]))
    if not details and list(a) != list(b):
        details.append(("order", "", list(a), list(b)))
    return details


def _history_lines(value: Any, ignore: frozenset[str]) -> list[str]:
    lines = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            lines.append(json.dumps(item))
            continue
        shown = {k: v for k, v in item.items() if not (k == "created" and "created" in ignore)}
        lines.append(json.dumps(shown, sort_keys=True))
    return lines


def _field_change(name: str, key: str, a: Any, b: Any,
                  ignore: frozenset[str]) -> FieldChange | None:
    if name == "Env":
        details = _map_details(_env_map(a), _env_map(b))
        return FieldChange(name, key, a, b, details) if details or a != b else None
    if name in ("Labels", "ExposedPorts", "Volumes"):
        details = _map_details(a if isinstance(a, dict) else {}, b if isinstance(b, dict) else {})
        return FieldChange(name, key, a, b, details) if details or (a or None) != (b or None) \
            else None
    if name == "history":
        la, lb = _history_lines(a, ignore), _history_lines(b, ignore)
        if la == lb:
            return None
        details = []
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, la, lb,
                                                           autojunk=False).get_opcodes():
            if tag != "equal":
                details += [("-", str(i), line, None) for i, line in enumerate(la[i1:i2], i1)]
                details += [("+", str(j), None, line) for j, line in enumerate(lb[j1:j2], j1)]
        return FieldChange(name, key, a, b, details)
    return FieldChange(name, key, a, b) if a != b else None


def diff_config(a: dict, b: dict, ignore: frozenset[str]) -> list[FieldChange]:
    """The config fields that differ, known ones first, then any other (key 'other')."""
    out = []
    for path, name, key in _FIELDS:
        if key in ignore:
            continue
        change = _field_change(name, key, _get(a, path), _get(b, path), ignore)
        if change is not None:
            out.append(change)
    if "other" in ignore:
        return out
    for prefix in ((), ("config",)):
        da, db = _get(a, prefix) or {}, _get(b, prefix) or {}
        for name in sorted(set(da) | set(db)):
            if prefix + (name,) in _KNOWN_PATHS:
                continue
            if da.get(name) != db.get(name):
                out.append(FieldChange(".".join(prefix + (name,)), "other", da.get(name),
                                       db.get(name)))
    if _get(a, ("rootfs", "type")) != _get(b, ("rootfs", "type")):
        out.append(FieldChange("rootfs.type", "other", _get(a, ("rootfs", "type")),
                               _get(b, ("rootfs", "type"))))
    return out


# --- layers -----------------------------------------------------------------------------------
class _Scans:
    """Layer file lists, read on first use; a layer both images share is read once."""

    def __init__(self, a: Image, b: Image) -> None:
        self.images = (a, b)
        self.ids = (a.diff_ids, b.diff_ids)
        self._by_id: dict[str, LayerFiles] = {}

    def get(self, side: int, index: int) -> LayerFiles:
        diff_id = self.ids[side][index]
        found = self._by_id.get(diff_id)
        if found is None:
            layer = self.images[side].layers[index]
            found = self._by_id[diff_id] = scan_layer(layer.tar_chunks(),
                                                      f"{'ab'[side]}: layer {index}")
        return found

    def every(self, side: int) -> Iterator[LayerFiles]:
        """The file lists of a side's layers, bottom first."""
        return (self.get(side, i) for i in range(len(self.ids[side])))


def _common_subsequence(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence (layer lists are short)."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else \
                max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def match_layers(ids_a: list[str], ids_b: list[str], keys=None) -> list[LayerMatch]:
    """Layer correspondences (see the module docstring).  ``keys(side, index)`` gives a
    layer's content keys; without it, unmatched layers are paired by position."""
    matches = [LayerMatch("identical", [i], [j]) for i, j in _common_subsequence(ids_a, ids_b)]
    left_a = [i for i in range(len(ids_a)) if all(i not in m.a for m in matches)]
    left_b = [j for j in range(len(ids_b)) if all(j not in m.b for m in matches)]
    for i in list(left_a):
        j = next((j for j in left_b if ids_b[j] == ids_a[i]), None)
        if j is not None:
            matches.append(LayerMatch("moved", [i], [j]))
            left_a.remove(i)
            left_b.remove(j)
    if keys is None:
        for i, j in zip(list(left_a), list(left_b)):
            matches.append(LayerMatch("changed", [i], [j]))
            left_a.remove(i)
            left_b.remove(j)
    else:
        for side, one, many, kind in ((0, left_a, left_b, "split"), (1, left_b, left_a, "merged")):
            for i in list(one):
                whole = keys(side, i)
                parts = [j for j in many if keys(1 - side, j) and keys(1 - side, j) <= whole]
                if len(parts) >= 2 and frozenset().union(*(keys(1 - side, j) for j in parts)) \
                        == whole:
                    a_side, b_side = ([i], parts) if side == 0 else (parts, [i])
                    matches.append(LayerMatch(kind, a_side, b_side))
                    one.remove(i)
                    for j in parts:
                        many.remove(j)
        candidates = sorted(((len(keys(0, i) & keys(1, j)), -abs(i - j), i, j)
                             for i in left_a for j in left_b), reverse=True)
        for overlap, _, i, j in candidates:
            if overlap and i in left_a and j in left_b:
                matches.append(LayerMatch("changed", [i], [j]))
                left_a.remove(i)
                left_b.remove(j)
    matches += [LayerMatch("added", [], [j]) for j in left_b]
    placed = {i: m.b[0] for m in matches for i in m.a}
    for i in left_a:  # a removed layer goes after where the layer below it went
        below = [placed[k] for k in placed if k < i]
        matches.append(LayerMatch("removed", [i], []))
        placed[i] = max(below, default=-1) + 0.5
    matches.sort(key=lambda m: (m.b[0] if m.b else placed[m.a[0]], m.a[0] if m.a else -1))
    return matches


def _union(scans: _Scans, side: int, indices: list[int]) -> dict:
    """What a group of layers carries, whiteout entries included (upper entries win)."""
    out: dict = {}
    for i in indices:
        out.update(scans.get(side, i).entries)
    return out


def _layer_notes(sa: Side, sb: Side, match: LayerMatch, scans: _Scans | None,
                 ignore: frozenset[str]) -> list[str]:
    """Differences that leave a matched layer's files equal: its compression, its tar
    bytes (header fields and names) and the order of its entries."""
    notes = []
    if "encoding" not in ignore and len(match.a) == len(match.b) == 1:
        la, lb = sa.image.layers[match.a[0]], sb.image.layers[match.b[0]]
        if la.compression != lb.compression:
            notes.append(f"compression {la.compression} → {lb.compression}")
    if match.kind != "changed" or scans is None or match.files:
        return notes
    fa, fb = scans.get(0, match.a[0]), scans.get(1, match.b[0])
    if fa.order != fb.order:
        if "file-order" not in ignore:
            notes.append("same entries in another order")
    elif "encoding" not in ignore and not diff_files(fa.entries, fb.entries, frozenset()):
        notes.append("same entries, other tar bytes (header fields or member names)")
    return notes


def _matched_layers(a: Side, b: Side, scans: _Scans | None,
                    ignore: frozenset[str]) -> list[LayerMatch]:
    """The layer correspondences with their file differences and notes; ``scans`` None
    matches by diff_id and position alone, reading no layer."""
    keys = None
    if scans is not None:
        cached: dict[tuple[int, int], frozenset[str]] = {}

        def keys(side: int, index: int) -> frozenset[str]:
            if (side, index) not in cached:
                cached[side, index] = scans.get(side, index).content_keys()
            return cached[side, index]
    matches = match_layers(a.image.diff_ids, b.image.diff_ids, keys)
    for match in matches:
        if scans is not None and match.kind not in ("identical", "moved"):
            match.files = diff_files(_union(scans, 0, match.a), _union(scans, 1, match.b),
                                     ignore)
        match.notes = _layer_notes(a, b, match, scans, ignore)
        if match.kind == "changed" and scans is not None and not (match.files or match.notes):
            match.kind = "equivalent"
    return matches


CONTENT_LIMIT = 16 << 20


def compare_images(a: Side, b: Side, *, ignore: frozenset[str] = frozenset(),
                   files: str = "layers", sizes: bool = False,
                   contents: tuple[str, ...] = ()) -> ImageDiff:
    """How ``b`` differs from ``a`` (see the module docstring); ``sizes`` reads every
    layer to report the uncompressed sizes; ``contents`` names files whose contents are
    wanted (each up to ``CONTENT_LIMIT`` bytes), as container-diff's --filename."""
    if files not in FILE_VIEWS:
        raise NixliteError(f"unknown file view '{files}' (expected {', '.join(FILE_VIEWS)})")
    diff = ImageDiff(a, b, ignore, files)
    ia, ib = a.image, b.image
    for image in (ia, ib):
        image.check_layers_match_config()
    diff.fields = diff_config(ia.config, ib.config, ignore)
    if "encoding" not in ignore:
        if ia.config_bytes != ib.config_bytes and ia.config == ib.config:
            diff.encoding.append("config JSON bytes differ (same content)")
        if a.manifest and b.manifest and a.manifest != b.manifest:
            diff.encoding.append(f"manifest type {a.manifest} → {b.manifest}")
    if "name" not in ignore and ia.repo_tags != ib.repo_tags:
        diff.names = FieldChange("RepoTags", "name", ia.repo_tags, ib.repo_tags)
    scans = _Scans(ia, ib)
    diff.layers = _matched_layers(a, b, scans if files != "none" else None, ignore)
    if files in ("merged", "both") and any(m.kind != "identical" for m in diff.layers):
        diff.merged = diff_files(merge_layers(scans.every(0)), merge_layers(scans.every(1)),
                                 ignore)
    if sizes:
        diff.sizes = ([f.tar_size for f in scans.every(0)], [f.tar_size for f in scans.every(1)])
    for path in contents:
        diff.contents.append((path, *(
            read_merged_file([layer.tar_chunks for layer in reversed(image.layers)], path,
                             CONTENT_LIMIT) for image in (ia, ib))))
    return diff

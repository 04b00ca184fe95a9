"""How comparisons are shown: readable text (coloured on request) and JSON.

The JSON documents are stable: fields are only ever added, and ``schema`` names the
version.  ``schema.json`` beside this module is their JSON Schema; an image comparison:

- ``schema``: ``"nixlite-compare-image/1"``; ``identical``: bool; ``summary``: the first
  line of the text output; ``ignored``: the ``--ignore`` keys in force; ``view``: the file
  view (layers, merged, both, none).
- ``a``, ``b``: ``location`` (as given), ``config_digest``, ``manifest`` (docker, oci or
  null), ``layers``: ``[{diff_id, digest (null if not known without reading), compression}]``.
- ``config``: ``[{field, key, a, b, details: [{op: + - ~ order, name, a, b}]}]``.
- ``names``: ``{a, b}``, the names each records (RepoTags), or null when equal.
- ``encoding``: ``[text]`` — same content stored differently.
- ``layers``: ``[{kind, a: [index], b: [index], notes: [text], files}]`` with ``kind`` one
  of identical, equivalent, moved, changed, split, merged, added, removed.
- ``merged``: ``files`` over the merged file systems, or null when not asked for.
- ``contents``: ``[{path, a, b, a_size, b_size}]`` for ``--filename``: each side's text
  (null if absent, not a regular file, or not UTF-8 text) and size in bytes (null if absent).
- ``sizes``: ``{a: [bytes], b: [bytes]}``, each layer's uncompressed size, or null when
  not asked for (``--type size``).
- ``files``: ``{added: [entry], removed: [entry], changed: [{path, path_b, changes:
  [{attribute, a, b}]}]}``; an ``entry`` is ``{path, type, mode, uid, gid, uname, gname,
  size, mtime, content, target, link, device, xattrs}`` (paths from the root, ``/…``;
  modes as octal strings; ``content`` is ``sha256:…`` for files).

A derivation comparison (``"nixlite-compare-drv/1"``): ``identical``, ``summary``,
``a``, ``b`` (drv paths) and ``root`` (null when identical), a ``node``: ``{name, chain,
a, b, seen, changes: [{what, name, a, b, texts}], inputs: [node]}`` — ``chain`` the names from
the root to this derivation; ``what`` one of name, output, platform, builder, args, env,
source, input, input-changed (see ``nixlite.compare.drv.Change``; a value is null where a
side has none; ``texts`` a changed source file's two texts, or null); ``inputs`` the input derivations that differ, each explained the same
way; ``seen`` marks a pair explained earlier in the document.
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
from typing import Any

from nixlite.compare.files import Entry, FileDiff, whiteout_of
from nixlite.compare.image import CONFIG_KEYS, ImageDiff, LayerMatch

IMAGE_SCHEMA = "nixlite-compare-image/1"
DRV_SCHEMA = "nixlite-compare-drv/1"
_SIGNS = {"identical": "=", "equivalent": "≈", "moved": "↕", "changed": "~", "split": "<",
          "merged": ">", "added": "+", "removed": "-"}


class Style:
    """Terminal colours, or none."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and text else text

    def added(self, text: str) -> str:
        return self._wrap("32", text)

    def removed(self, text: str) -> str:
        return self._wrap("31", text)

    def changed(self, text: str) -> str:
        return self._wrap("33", text)

    def heading(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def sign(self, sign: str, text: str) -> str:
        paint = {"+": self.added, "-": self.removed, "=": self.dim, "≈": self.dim}
        return paint.get(sign, self.changed)(text)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _file_counts(files: FileDiff) -> str:
    counts = (("added", files.added), ("removed", files.removed), ("changed", files.changed))
    return ", ".join(f"{len(found)} {word}" for word, found in counts if found)


def image_summary(diff: ImageDiff) -> str:
    """The one line that comes first."""
    ignored = set(diff.ignore)
    if ignored >= set(CONFIG_KEYS):  # as --type leaves the config out: said in a word
        ignored = ignored - set(CONFIG_KEYS) | {"config"}
    ignoring = f" (ignoring {', '.join(sorted(ignored))})" if ignored else ""
    if diff.identical:
        return f"images are identical{ignoring}"
    parts = []
    if diff.fields:
        parts.append(_count(len(diff.fields), "config field"))
    if diff.names:
        parts.append("names")
    if diff.encoding:
        parts.append(_count(len(diff.encoding), "encoding difference"))
    kinds: dict[str, int] = {}
    for match in diff.layers:
        if match.differs:
            kind = "stored differently" if match.kind in ("identical", "equivalent") \
                and not match.files else match.kind
            kinds[kind] = kinds.get(kind, 0) + 1
    if kinds:
        parts.append("layers: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()))
    per_layer = FileDiff()
    for match in diff.layers:
        per_layer.added += match.files.added
        per_layer.removed += match.files.removed
        per_layer.changed += match.files.changed
    if per_layer and diff.view in ("layers", "both"):
        parts.append("files: " + _file_counts(per_layer))
    if diff.merged:
        parts.append("merged file system: " + _file_counts(diff.merged))
    return f"images differ{ignoring}: " + "; ".join(parts)


# --- text -------------------------------------------------------------------------------------
def _safe(text: str) -> str:
    """Text from an image (a file name, link target, label, a file's line) as it may go to
    a terminal: control and other unprintable characters as escapes (no ESC sequence or
    newline from a hostile image reaches the screen); bytes that are not UTF-8 (surrogate
    escapes) are left to be written as they are."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or "\udc80" <= c <= "\udcff"
                   else c.encode("unicode_escape").decode("ascii") for c in text)


def _short(value: Any) -> str:
    if isinstance(value, str) and value.startswith("sha256:"):
        return value[:19]
    return _safe(value) if isinstance(value, str) else json.dumps(value)


def _shown(attr: str, value: Any) -> str:
    if value is None:
        return "none"
    if attr == "mtime":
        return _time(value)
    if attr == "xattrs":
        return json.dumps(value, sort_keys=True)
    if attr in ("target", "link", "uname", "gname", "device"):
        return json.dumps(value)
    return _short(value)


def _time(seconds: int) -> str:
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def _describe(path: str, entry: Entry) -> str:
    whiteout = whiteout_of(path)
    if whiteout is not None:
        target, opaque = whiteout
        return f"opaque whiteout: hides what is below /{_safe(target)}" if opaque else \
            f"whiteout: deletes /{_safe(target)}"
    text = f"{entry.type} {entry.value('mode')} {entry.uid}:{entry.gid}"
    if entry.type == "file":
        text += f" {entry.size} B {_short(entry.content)}"
    elif entry.type == "symlink":
        text += f" -> {_safe(entry.target)}"
    elif entry.type == "hardlink":
        text += f" => /{_safe(entry.link)}"
    elif entry.device:
        text += f" {entry.device}"
    return text


def _file_lines(files: FileDiff, style: Style, indent: str) -> list[str]:
    lines = []
    for path, entry in files.removed:
        lines.append(indent + style.removed(f"- /{_safe(path)}") + f"  {_describe(path, entry)}")
    for path, entry in files.added:
        lines.append(indent + style.added(f"+ /{_safe(path)}") + f"  {_describe(path, entry)}")
    for change in files.changed:
        name = f"/{_safe(change.path)}" + (f" → /{_safe(change.path_b)}" if change.path_b else "")
        what = "; ".join(f"{attr} {_shown(attr, a)} → {_shown(attr, b)}"
                         for attr, a, b in change.changes)
        lines.append(indent + style.changed(f"~ {name}") + (f"  {what}" if what else ""))
    return lines


def _detail_lines(change, style: Style, indent: str) -> list[str]:
    lines = []
    for op, name, a, b in change.details:
        if change.field == "Env":
            a, b = (None if v is None else f"{_safe(name)}={_safe(v)}" for v in (a, b))
        elif change.field == "history":
            a, b = (None if v is None else f"[{name}] {v}" for v in (a, b))
        else:
            a, b = (None if v is None else f"{_safe(str(name))}: {_short(v)}" for v in (a, b))
        if op == "-":
            lines.append(indent + style.removed(f"- {a}"))
        elif op == "+":
            lines.append(indent + style.added(f"+ {b}"))
        elif op == "~":
            shown_b = b.partition("=")[2] if change.field == "Env" else b.partition(": ")[2]
            lines.append(indent + style.changed(f"~ {a} → {shown_b}"))
        else:
            lines.append(indent + style.changed("~ same entries in another order"))
    return lines


def _layer_line(diff: ImageDiff, match: LayerMatch, style: Style) -> str:
    names = " ".join(filter(None, (",".join(f"a{i}" for i in match.a),
                                   ",".join(f"b{j}" for j in match.b))))
    ids = [diff.a.image.diff_ids[i] for i in match.a] + \
        [diff.b.image.diff_ids[j] for j in match.b]
    shown = sorted(set(ids), key=ids.index)
    digests = " → ".join(_short(d) for d in shown) if match.kind in ("changed", "equivalent") \
        else ", ".join(_short(d) for d in shown)
    sign = _SIGNS[match.kind]
    text = f"{sign} {names:<10} {match.kind:<10} {digests}"
    if diff.sizes is not None:
        sizes = [_size(sum(diff.sizes[0][i] for i in match.a))] if match.a else []
        sizes += [_size(sum(diff.sizes[1][j] for j in match.b))] if match.b else []
        text += f"  [{' → '.join(sizes)}]"
    if match.notes:
        text += "  (" + "; ".join(match.notes) + ")"
    return "  " + style.sign(sign, text)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def image_text(diff: ImageDiff, style: Style) -> str:
    """The text report: the summary line, then (if they differ) what differs."""
    lines = [style.heading(image_summary(diff))]
    if diff.sizes is not None:
        lines.append(f"size (uncompressed): a {_size(sum(diff.sizes[0]))}, "
                     f"b {_size(sum(diff.sizes[1]))}")
    if diff.identical:
        return "\n".join(lines) + "\n"
    lines += [style.removed(f"--- a: {diff.a.label}"), style.added(f"+++ b: {diff.b.label}")]
    if diff.fields:
        lines.append(style.heading("config:"))
        for change in diff.fields:
            if change.details:
                lines.append("  " + style.changed(f"~ {change.field}:"))
                lines += _detail_lines(change, style, "      ")
            else:
                lines.append("  " + style.changed(f"~ {change.field}: {_short(change.a)} → "
                                                  f"{_short(change.b)}"))
    if diff.names:
        lines.append(style.heading("names:"))
        lines.append("  " + style.changed(f"~ {diff.names.field}: {_short(diff.names.a)} → "
                                          f"{_short(diff.names.b)}"))
    if diff.encoding:
        lines.append(style.heading("encoding:"))
        lines += ["  " + style.changed(f"~ {text}") for text in diff.encoding]
    lines.append(style.heading(f"layers (a: {len(diff.a.image.layers)}, "
                               f"b: {len(diff.b.image.layers)}):"))
    for match in diff.layers:
        lines.append(_layer_line(diff, match, style))
        if diff.view in ("layers", "both"):
            lines += _file_lines(match.files, style, "      ")
    if diff.merged:
        lines.append(style.heading("merged file system:"))
        lines += _file_lines(diff.merged, style, "  ")
    for path, a, b in diff.contents:
        lines.append(style.heading(f"contents of {path}:"))
        lines += ["  " + line for line in _content_lines(a, b, style)]
    return "\n".join(lines) + "\n"


def _text(data: bytes | None) -> str | None:
    """Bytes as text if they are text (UTF-8, no NUL), else None."""
    if data is None or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _content_lines(a: bytes | None, b: bytes | None, style: Style) -> list[str]:
    if a == b:
        return [style.dim("(the same)" if a is not None else "(no regular file on either side)")]
    if a is None or b is None:
        side = "a" if a is None else "b"
        return [f"(no regular file in {side})"]
    ta, tb = _text(a), _text(b)
    if ta is None or tb is None:
        return [style.changed(f"binary contents differ ({len(a)} B → {len(b)} B)")]
    ta, tb = ("\n".join(map(_safe, t.split("\n"))) for t in (ta, tb))
    return line_diff(ta, tb, style, "", context=3)


# --- JSON -------------------------------------------------------------------------------------
def _entry_json(path: str, entry: Entry) -> dict[str, Any]:
    return {"path": "/" + path, "type": entry.type, "mode": entry.value("mode"),
            "uid": entry.uid, "gid": entry.gid, "uname": entry.uname, "gname": entry.gname,
            "size": entry.size, "mtime": entry.mtime, "content": entry.content,
            "target": entry.target, "link": None if entry.link is None else "/" + entry.link,
            "device": entry.device, "xattrs": entry.xattrs}


def _files_json(files: FileDiff) -> dict[str, Any]:
    return {
        "added": [_entry_json(p, e) for p, e in files.added],
        "removed": [_entry_json(p, e) for p, e in files.removed],
        "changed": [{"path": "/" + c.path, "path_b": None if c.path_b is None else "/" + c.path_b,
                     "changes": [{"attribute": attr, "a": a, "b": b}
                                 for attr, a, b in c.changes]} for c in files.changed],
    }


def _side_json(side) -> dict[str, Any]:
    image = side.image
    return {"location": side.label, "config_digest": image.config_digest,
            "manifest": side.manifest,
            "layers": [{"diff_id": diff_id, "digest": layer.known_digest,
                        "compression": layer.compression}
                       for layer, diff_id in zip(image.layers, image.diff_ids)]}


def image_json(diff: ImageDiff) -> dict[str, Any]:
    return {
        "schema": IMAGE_SCHEMA,
        "identical": diff.identical,
        "summary": image_summary(diff),
        "ignored": sorted(diff.ignore),
        "view": diff.view,
        "a": _side_json(diff.a),
        "b": _side_json(diff.b),
        "config": [{"field": c.field, "key": c.key, "a": c.a, "b": c.b,
                    "details": [{"op": op, "name": name, "a": a, "b": b}
                                for op, name, a, b in c.details]} for c in diff.fields],
        "names": None if diff.names is None else {"a": diff.names.a, "b": diff.names.b},
        "encoding": list(diff.encoding),
        "layers": [{"kind": m.kind, "a": m.a, "b": m.b, "notes": m.notes,
                    "files": _files_json(m.files)} for m in diff.layers],
        "merged": None if diff.merged is None else _files_json(diff.merged),
        "sizes": None if diff.sizes is None else {"a": diff.sizes[0], "b": diff.sizes[1]},
        "contents": [{"path": path, "a": _text(a), "b": _text(b),
                      "a_size": None if a is None else len(a),
                      "b_size": None if b is None else len(b)}
                     for path, a, b in diff.contents],
    }


# --- long values: word and line differences ---------------------------------------------------
_WORDS = re.compile(r"\s+|\w+|[^\w\s]")  # spaces, words, and each other character


def line_diff(a: str, b: str, style: Style, indent: str, context: int = 1) -> list[str]:
    """A unified diff of two texts' lines, without the file header."""
    out = []
    for line in difflib.unified_diff(a.splitlines(), b.splitlines(), n=context, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        paint = {"+": style.added, "-": style.removed, "@": style.dim}.get(line[:1], str)
        out.append(indent + paint(line))
    return out


def value_diff(a: str, b: str, style: Style, indent: str) -> list[str]:
    """How two strings differ: ``"a" → "b"`` when short; a line diff when they have
    several lines; else a word diff (``[-old-]{+new+}``, as git's --word-diff, with
    punctuation apart from words so JSON and store paths diff well)."""
    if "\n" in a.rstrip("\n") or "\n" in b.rstrip("\n"):
        return line_diff(a, b, style, indent)
    wa, wb = _WORDS.findall(a), _WORDS.findall(b)
    if len(a) + len(b) <= 100 or len(wa) == 1 or len(wb) == 1:
        return [indent + style.removed(json.dumps(a)) + " → " + style.added(json.dumps(b))]
    pieces: list[str] = []
    gone, new = "", ""  # the change being gathered: runs split by only spaces join up

    def flush() -> None:
        nonlocal gone, new
        if gone:
            pieces.append(style.removed("[-" + gone + "-]"))
        if new:
            pieces.append(style.added("{+" + new + "+}"))
        gone, new = "", ""

    opcodes = difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        same = "".join(wa[i1:i2])
        if tag == "equal" and (gone or new) and same.isspace() and index + 1 < len(opcodes):
            gone, new = gone + same, new + same
        elif tag == "equal":
            flush()
            pieces.append(same)
        else:
            gone, new = gone + same, new + "".join(wb[j1:j2])
    flush()
    return [indent + "".join(pieces)]


# --- derivations ------------------------------------------------------------------------------
def _real_changes(root) -> list:
    """Every difference but the pairs of inputs that differ (explained below them)."""
    return [c for node in root.walk() for c in node.changes if c.what != "input-changed"]


def drv_summary(root, path: str) -> str:
    if root is None:
        return f"derivations are identical: {path}"
    changed = [n for n in root.walk() if any(c.what != "input-changed" for c in n.changes)]
    deepest = max(changed, key=lambda n: len(n.chain), default=root)
    return (f"derivations differ: {_count(len(_real_changes(root)), 'difference')} in "
            f"{_count(len(changed), 'derivation')}; deepest: {' → '.join(deepest.chain)}")


def _change_label(change) -> str:
    labels = {"env": f"env.{change.name}", "output": f"output {change.name}",
              "source": f"source {change.name}", "input": f"input {change.name}",
              "input-changed": f"input {change.name}"}
    return labels.get(change.what, change.what)


def _change_lines(change, style: Style, indent: str) -> list[str]:
    label = _change_label(change)
    a, b = change.a, change.b
    if a is None:
        return [indent + style.added(f"+ {label}: {_plain(b)}")]
    if b is None:
        return [indent + style.removed(f"- {label}: {_plain(a)}")]
    if change.texts is not None:  # a source file: its path, then its lines
        return [indent + style.changed(f"~ {label}: ") + value_diff(a, b, style, "")[0]] + \
            line_diff(*change.texts, style, indent + "    ", context=2)
    if isinstance(a, str) and isinstance(b, str):
        shown = value_diff(a, b, style, "")
        if len(shown) == 1 and len(shown[0]) < 120:
            return [indent + style.changed(f"~ {label}: ") + shown[0]]
        return [indent + style.changed(f"~ {label}:")] + [indent + "    " + s for s in shown]
    if isinstance(a, list) and isinstance(b, list):  # args: a line per argument
        return [indent + style.changed(f"~ {label}:")] + value_diff(
            "\n".join(a) + "\n", "\n".join(b) + "\n", style, indent + "    ")
    return [indent + style.changed(f"~ {label}: {_plain(a)} → {_plain(b)}")]


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def drv_text(root, a: str, b: str, style: Style, labels: tuple[str, str] = ("a", "b")) -> str:
    lines = [style.heading(drv_summary(root, b))]
    if root is None:
        return "\n".join(lines) + "\n"
    lines += [style.removed(f"--- {labels[0]}: {a}"), style.added(f"+++ {labels[1]}: {b}")]
    for node in root.walk():
        lines.append(style.heading(" → ".join(node.chain) + ":"))
        if node.seen:
            lines.append("  " + style.dim("(explained above)"))
            continue
        for change in node.changes:
            lines += _change_lines(change, style, "  ")
    return "\n".join(lines) + "\n"


def _node_json(node) -> dict[str, Any]:
    return {"name": node.name, "chain": node.chain, "a": node.a, "b": node.b,
            "seen": node.seen,
            "changes": [{"what": c.what, "name": c.name, "a": c.a, "b": c.b,
                         "texts": None if c.texts is None else list(c.texts)}
                        for c in node.changes],
            "inputs": [_node_json(child) for child in node.inputs]}


def drv_json(root, a: str, b: str) -> dict[str, Any]:
    return {"schema": DRV_SCHEMA, "identical": root is None, "summary": drv_summary(root, b),
            "a": a, "b": b, "root": None if root is None else _node_json(root)}

"""The plan document: its model, how it is read and validated, and how it is written.

A plan is a table of nodes in dependency order, each a source (a store object made
from content: ``nar``, ``flat`` or ``text``, like ``"${./file}"``, ``builtins.path`` and
``builtins.toFile``) or a derivation with every field of its ``.drv`` (``kind`` says what
builds it: ``native`` for nixlite's ``builtin:`` image steps, ``fetch`` for fixed-output
derivations, ``host`` for host packages, ``command`` for any other builder).  Nodes refer
to each other by id (``input-drvs``, ``input-srcs``, ``references``); the store paths
the plan records (``drv``, ``outputs.NAME.path``, ``path``) are names that other fields'
strings use, rewritten when a node's recomputed path differs (see ``nixlite.plan.load``).

Strings that are JSON objects or arrays (``nixliteArgs``, ``__json``) are written
decoded, as ``{ json = … }``, when writing the decoded value back as Nix's ``toJSON``
does gives the very same string; strings that are not UTF-8 are ``{ base64 = … }``.
A hand-edited document is validated field by field: errors name the node and the field.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field

from nixlite.errors import NixliteError

FORMAT_VERSION = 1
DRV_KINDS = ("native", "fetch", "host", "command")
SOURCE_METHODS = ("nar", "flat", "text")
NATIVE_PREFIX = "builtin:"
HEADER = ("# A nixlite build plan (`nixlite plan`); build it with `nixlite build --plan FILE`.\n"
          "# Fields are what counts: store paths are recomputed from them when it is built,\n"
          "# and recorded paths other fields mention are rewritten to the recomputed ones.\n")


class PlanError(NixliteError):
    """A plan that cannot be written, read or built as it stands."""


@dataclass
class SourceNode:
    """A store object made from content the plan carries (inline or a NAR file beside it)."""

    id: str
    name: str
    method: str                        # nar | flat | text
    path: str | None                   # the recorded store path (a name for rewriting)
    references: list[str] = field(default_factory=list)  # ids of source nodes
    contents: bytes | None = None      # inline contents (a single regular file)
    executable: bool = False
    nar_file: str | None = None        # a NAR file, relative to the plan
    nar_hash: str | None = None        # its sha256 (SRI), checked before use
    kind: str = "source"


@dataclass
class DrvOutputSpec:
    path: str | None                   # the recorded path
    hash_algo: str = ""                # fixed outputs: "sha256", "r:sha256", …
    hash: str = ""                     # fixed outputs: base-16 digest


@dataclass
class DrvNode:
    id: str
    kind: str
    name: str
    drv: str | None                    # the recorded .drv path
    system: str
    builder: str
    args: list[str]
    env: dict[str, str]
    outputs: dict[str, DrvOutputSpec]
    input_drvs: dict[str, list[str]]   # node id -> outputs used
    input_srcs: list[str]              # source node ids


@dataclass
class Plan:
    store_dir: str
    targets: list[tuple[str, str]]     # (node id, output)
    nodes: dict[str, SourceNode | DrvNode]
    origin: str = "<plan>"             # the file it was read from, for messages
    base_dir: str = "."                # where NAR files are looked up


def kind_of(builder: str, outputs: dict[str, DrvOutputSpec], env: dict[str, str]) -> str:
    """What builds a derivation: the kind a plan gives its node."""
    if len(outputs) == 1 and "out" in outputs and outputs["out"].hash_algo:
        return "fetch"
    if builder.startswith(NATIVE_PREFIX):
        return "native"
    if "debianPackage" in env:  # nixlite/pkgs/host's packages
        return "host"
    return "command"


# ----------------------------------------------------------------- strings


def json_text(value) -> str:
    """A JSON value written as ``builtins.toJSON`` writes it (compact, keys sorted)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                      allow_nan=False)


def encode_string(s: str):
    """How a derivation string is written in a plan: itself, decoded JSON, or base64."""
    value = _json_of(s)
    if value is not None:
        strings: list[str] = []
        nulls: list[str] = []
        value = _decode_strings(value, "", strings)
        _take_nulls(value, "", nulls)
        if _tomlable(value):
            table = {"json": value, "nulls": nulls, "json-strings": strings}
            table = {k: v for k, v in table.items() if v or k == "json"}
            if decode_json_table(_copy(table)) == s:
                return table
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept as surrogates
        return {"base64": base64.b64encode(s.encode("utf-8", "surrogateescape")).decode()}
    return s


def decode_json_table(table: dict) -> str:
    """The string a ``{ json, nulls, json-strings }`` table stands for (may raise
    ``LookupError``, ``TypeError`` or ``ValueError`` on a bad hand-edited one)."""
    value = table["json"]
    for pointer in table.get("nulls", []):
        place, key = _locate(value, pointer)
        taken = place[key] == {} if isinstance(place, list) else key not in place
        if not taken:
            raise LookupError(f"'{pointer}' is neither a missing key nor a {{}} in a list")
        place[key] = None
    for pointer in sorted(table.get("json-strings", []), key=lambda p: -p.count("/")):
        if pointer == "":
            raise LookupError("'' is the document itself")
        place, key = _locate(value, pointer)
        place[key] = json_text(place[key])
    return json_text(value)


def _json_of(s: str):
    """The JSON object or array ``s`` is, written exactly as ``toJSON`` writes it; else None."""
    if s[:1] not in ("{", "[") or s[-1:] not in ("}", "]"):
        return None
    try:
        value = json.loads(s)
    except ValueError:
        return None
    return value if json_text(value) == s else None


def _decode_strings(value, pointer: str, strings: list[str]):
    """Decode the strings inside ``value`` that are JSON themselves (``baseJson``)."""
    if isinstance(value, str):
        inner = _json_of(value)
        if inner is None:
            return value
        strings.append(pointer)
        value = inner
    if isinstance(value, dict):
        return {k: _decode_strings(v, _pointer(pointer, k), strings) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_strings(v, _pointer(pointer, i), strings) for i, v in enumerate(value)]
    return value


def _take_nulls(value, pointer: str, nulls: list[str]) -> None:
    """Take the nulls out of ``value`` (TOML has none), recording where they were in
    ``nulls``: an object's null key is removed, a list's null becomes ``{}``."""
    if isinstance(value, dict):
        for key in list(value):
            if value[key] is None:
                nulls.append(_pointer(pointer, key))
                del value[key]
            else:
                _take_nulls(value[key], _pointer(pointer, key), nulls)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if item is None:
                nulls.append(_pointer(pointer, i))
                value[i] = {}
            else:
                _take_nulls(item, _pointer(pointer, i), nulls)


def _pointer(parent: str, key) -> str:
    """A JSON Pointer (RFC 6901) one step below ``parent``."""
    return parent + "/" + str(key).replace("~", "~0").replace("/", "~1")


def _locate(value, pointer: str):
    """``(container, key)`` of the place a JSON Pointer names."""
    if not pointer.startswith("/"):
        raise LookupError(f"'{pointer}' is not a JSON pointer")
    steps = [s.replace("~1", "/").replace("~0", "~") for s in pointer[1:].split("/")]
    for step in steps[:-1]:
        value = value[int(step)] if isinstance(value, list) else value[step]
    last = steps[-1]
    return value, (int(last) if isinstance(value, list) else last)


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _tomlable(value) -> bool:
    """TOML has no null, and 64-bit integers only; its strings are Unicode."""
    if value is None:
        return False
    if isinstance(value, bool) or isinstance(value, float):
        return True
    if isinstance(value, int):
        return -2**63 <= value < 2**63
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list):
        return all(_tomlable(v) for v in value)
    return all(_tomlable(v) for v in value.values())


# ----------------------------------------------------------------- writing


def dump(document: dict, fmt: str) -> bytes:
    """The plan as TOML (with a header saying what it is) or as indented JSON."""
    if fmt == "json":
        return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()
    import tomli_w

    literals: dict[str, str] = {}
    tag = f"nixlite-plan-literal-{os.urandom(8).hex()}-"
    # tomli-w's own multi-line strings write a CR LF as it is, which TOML reads as LF:
    # other strings stay on one line, escaped.
    text = tomli_w.dumps(_with_literals(document, literals, tag))
    for token, s in literals.items():
        text = text.replace(f'"{token}"', "'''\n" + s + "'''", 1)
    return (HEADER + "\n" + text).encode()


def _with_literals(value, literals: dict[str, str], tag: str):
    """``value`` with each multi-line string that a TOML literal string can hold as it is
    (scripts: no escaped quotes or backslashes) replaced by a token for ``dump`` to swap."""
    if isinstance(value, dict):
        return {k: _with_literals(v, literals, tag) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_literals(v, literals, tag) for v in value]
    if isinstance(value, str) and "\n" in value and _literal_safe(value):
        token = f"{tag}{len(literals)}"
        literals[token] = value
        return token
    return value


def _literal_safe(s: str) -> bool:
    """A multi-line literal string holds anything but ``'''``, control characters other
    than tab and newline, and (at its end) a quote that would run into the delimiter."""
    return "'''" not in s and not s.endswith("'") and \
        not any(c < " " and c not in "\t\n" or c == "\x7f" for c in s)


# ----------------------------------------------------------------- reading


def parse(data: bytes, origin: str, base_dir: str) -> Plan:
    """A plan read from TOML or JSON (by its first character), validated."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:  # TOML and JSON are UTF-8: a byte is never guessed
        line = data.count(b"\n", 0, exc.start) + 1
        raise PlanError(f"plan '{origin}' is not UTF-8 text: byte {data[exc.start]:#04x} on "
                        f"line {line} (non-UTF-8 strings are written as {{ base64 = … }})") \
            from None
    stripped = text.lstrip()
    as_json = stripped.startswith("{")
    try:
        if as_json:
            document = json.loads(text)
        else:
            import tomllib

            document = tomllib.loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError and json's errors
        raise PlanError(f"plan '{origin}' is not valid {'JSON' if as_json else 'TOML'}: "
                        f"{exc}") from None
    return _Reader(origin).plan(document, base_dir)


class _Fields:
    """The fields of one table, checked as they are taken; unknown ones are errors."""

    def __init__(self, reader: _Reader, table, where: str) -> None:
        self.reader = reader
        self.where = where
        if not isinstance(table, dict):
            reader.fail(where, f"expected a table, got {_type_name(table)}")
        self.table = table
        self.taken: set[str] = set()

    def fail(self, key: str, message: str):
        self.reader.fail(self.where, message, key)

    def get(self, key: str, kind: type, default=..., what: str | None = None):
        self.taken.add(key)
        if key not in self.table:
            if default is ...:
                self.fail(key, "missing field")
            return default
        value = self.table[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(key, f"expected {what or _KIND_NAMES[kind]}, got {_type_name(value)}")
        return value

    def string_list(self, key: str, default=...) -> list[str]:
        values = self.get(key, list, default, "a list of strings")
        for i, v in enumerate(values):
            if not isinstance(v, str):
                self.fail(f"{key}[{i}]", f"expected a string, got {_type_name(v)}")
        return values

    def done(self) -> None:
        for key in self.table:
            if key not in self.taken:
                self.fail(key, "unknown field")


class _Reader:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, message: str, key: str | None = None):
        place = where + (f": field '{key}'" if key is not None else "")
        raise PlanError(f"plan '{self.origin}': {place}: {message}")

    def plan(self, document, base_dir: str) -> Plan:
        top = _Fields(self, document, "top level")
        version = top.get("version", int)
        if version != FORMAT_VERSION:
            top.fail("version", f"this nixlite reads plans of version {FORMAT_VERSION}, not {version}")
        store_dir = top.get("store-dir", str)
        nodes_table = top.get("nodes", dict)
        nodes: dict[str, SourceNode | DrvNode] = {}
        for node_id, table in nodes_table.items():
            nodes[node_id] = self.node(node_id, table)
        targets = []
        for i, target in enumerate(top.get("targets", list)):
            t = _Fields(self, target, f"targets[{i}]")
            node_id, output = t.get("node", str), t.get("output", str, "out")
            t.done()
            node = nodes.get(node_id)
            if node is None:
                t.fail("node", f"no node '{node_id}' in the plan")
            if not isinstance(node, DrvNode) or output not in node.outputs:
                t.fail("output", f"node '{node_id}' has no output '{output}'")
            targets.append((node_id, output))
        top.done()
        plan = Plan(store_dir, targets, nodes, self.origin, base_dir)
        self.check_graph(plan)
        return plan

    def node(self, node_id: str, table) -> SourceNode | DrvNode:
        f = _Fields(self, table, f"node '{node_id}'")
        kind = f.get("kind", str)
        if kind == "source":
            node = self.source(node_id, f)
        elif kind in DRV_KINDS:
            node = self.derivation(node_id, kind, f)
        else:
            f.fail("kind", f"unknown kind '{kind}' (expected one of: source, {', '.join(DRV_KINDS)})")
        f.done()
        return node

    def source(self, node_id: str, f: _Fields) -> SourceNode:
        method = f.get("method", str)
        if method not in SOURCE_METHODS:
            f.fail("method", f"unknown method '{method}' (expected one of: {', '.join(SOURCE_METHODS)})")
        node = SourceNode(node_id, f.get("name", str), method, f.get("path", str, None),
                          f.string_list("references", []))
        contents = f.get("contents", (str, dict), None, "a string")
        node.nar_file = f.get("nar-file", str, None)
        node.nar_hash = f.get("nar-hash", str, None)
        node.executable = f.get("executable", bool, False)
        if (contents is None) == (node.nar_file is None):
            f.fail("contents", "a source has either 'contents' or 'nar-file'")
        if contents is not None:
            node.contents = self.string(f, "contents", contents).encode("utf-8", "surrogateescape")
        elif node.nar_hash is None:
            f.fail("nar-hash", "missing field (a 'nar-file' is checked against it)")
        if method != "nar" and node.executable:
            f.fail("executable", f"a '{method}' source cannot be executable")
        if method != "text" and method != "nar" and node.references:
            f.fail("references", f"a '{method}' source cannot have references")
        return node

    def derivation(self, node_id: str, kind: str, f: _Fields) -> DrvNode:
        outputs = {}
        outputs_table = f.get("outputs", dict)
        if not outputs_table:
            f.fail("outputs", "a derivation has at least one output")
        for name, table in outputs_table.items():
            o = _Fields(self, table, f"node '{node_id}'")
            o.where = f"node '{node_id}': field 'outputs.{name}'"
            spec = DrvOutputSpec(o.get("path", str, None), o.get("hash-algo", str, ""),
                                 o.get("hash", str, ""))
            if bool(spec.hash_algo) != bool(spec.hash):
                o.fail("hash", "'hash' and 'hash-algo' go together")
            o.done()
            outputs[name] = spec
        args = [self.string(f, f"args[{i}]", a)
                for i, a in enumerate(f.get("args", list, []))]
        env_table = f.get("env", dict, {})
        env = {k: self.string(f, f"env.{k}", v) for k, v in env_table.items()}
        for name in outputs:
            if name in env:
                f.fail(f"env.{name}", "an output's path is computed, not given: remove it")
        input_drvs = {}
        for dep, wanted in f.get("input-drvs", dict, {}).items():
            if not isinstance(wanted, list) or not wanted or not all(isinstance(w, str) for w in wanted):
                f.fail(f"input-drvs.{dep}", "expected a non-empty list of output names")
            input_drvs[dep] = wanted
        node = DrvNode(node_id, kind, f.get("name", str), f.get("drv", str, None),
                       f.get("system", str), self.string(f, "builder", f.get("builder", (str, dict), what="a string")),
                       args, env, outputs, input_drvs, f.string_list("input-srcs", []))
        actual = kind_of(node.builder, outputs, env)
        if actual != kind:
            f.fail("kind", f"the node is '{kind}' but its fields make it '{actual}'"
                           f"{_KIND_REASONS[actual]}")
        return node

    def string(self, f: _Fields, key: str, value) -> str:
        """A derivation string as a plan writes it (see ``encode_string``)."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "json" in value and set(value) <= {"json", "nulls", "json-strings"}:
            for part in ("nulls", "json-strings"):
                pointers = value.get(part, [])
                if not isinstance(pointers, list) or not all(isinstance(p, str) for p in pointers):
                    f.fail(f"{key}.{part}", "expected a list of JSON pointers")
            try:
                return decode_json_table(_copy(value))
            except (LookupError, TypeError) as exc:
                f.fail(key, f"a JSON pointer names no place: {exc}")
            except ValueError as exc:
                f.fail(key, f"'json' holds a value JSON cannot represent: {exc}")
        if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("base64"), str):
            try:
                return base64.b64decode(value["base64"], validate=True).decode("utf-8", "surrogateescape")
            except ValueError:
                f.fail(key, "'base64' is not valid base64")
        f.fail(key, f"expected a string (or a table with 'json' or 'base64'), got {_type_name(value)}")

    def check_graph(self, plan: Plan) -> None:
        """Every input names a node of the right sort, and the graph has no cycle."""
        nodes = plan.nodes
        for node in nodes.values():
            where = f"node '{node.id}'"
            if isinstance(node, SourceNode):
                for ref in node.references:
                    if not isinstance(nodes.get(ref), SourceNode):
                        self.fail(where, f"no source node '{ref}' in the plan", "references")
                continue
            for dep, wanted in node.input_drvs.items():
                target = nodes.get(dep)
                if not isinstance(target, DrvNode):
                    self.fail(where, f"no derivation node '{dep}' in the plan", f"input-drvs.{dep}")
                for output in wanted:
                    if output not in target.outputs:
                        self.fail(where, f"node '{dep}' has no output '{output}'", f"input-drvs.{dep}")
            for src in node.input_srcs:
                if not isinstance(nodes.get(src), SourceNode):
                    self.fail(where, f"no source node '{src}' in the plan", "input-srcs")
        recorded: dict[str, str] = {}
        for node in nodes.values():
            paths = [("path", node.path)] if isinstance(node, SourceNode) else \
                [("drv", node.drv)] + [(f"outputs.{o}.path", s.path) for o, s in node.outputs.items()]
            for key, path in paths:
                if path is not None and recorded.setdefault(path, node.id) != node.id:
                    self.fail(f"node '{node.id}'", f"'{path}' is also recorded by node "
                                                   f"'{recorded[path]}'", key)
        order = dependency_order(plan)
        if len(order) != len(nodes):
            stuck = sorted(set(nodes) - set(order))
            self.fail(f"node '{_cycle(plan, stuck)[0]}'",
                      "its inputs lead back to it: " + " -> ".join(f"'{n}'" for n in _cycle(plan, stuck)))


def inputs_of(node: SourceNode | DrvNode) -> list[str]:
    if isinstance(node, SourceNode):
        return list(node.references)
    return [*node.input_drvs, *node.input_srcs]


def dependency_order(plan: Plan) -> list[str]:
    """Node ids, each after its inputs, ties broken by id (nodes in a cycle left out)."""
    import heapq

    waiting = {i: len(set(inputs_of(n))) for i, n in plan.nodes.items()}
    users: dict[str, list[str]] = {}
    for i, n in plan.nodes.items():
        for dep in set(inputs_of(n)):
            users.setdefault(dep, []).append(i)
    ready = [i for i, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for user in users.get(i, ()):
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    return order


def _cycle(plan: Plan, stuck: list[str]) -> list[str]:
    """One cycle among the nodes a topological sort could not place, from its first node."""
    path, node = [], stuck[0]
    while node not in path:
        path.append(node)
        node = min(d for d in inputs_of(plan.nodes[node]) if d in stuck)
    return path[path.index(node):] + [node]


_KIND_NAMES = {str: "a string", int: "an integer", bool: "a boolean", list: "a list",
               dict: "a table"}
_KIND_REASONS = {"fetch": " (its single output 'out' has a fixed hash)",
                 "native": f" (its builder starts with '{NATIVE_PREFIX}')",
                 "host": " (its env has 'debianPackage')",
                 "command": " (a builder run as a command)"}


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in ((str, "a string"), (int, "an integer"), (float, "a float"), (list, "a list"),
                       (dict, "a table")):
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__}"

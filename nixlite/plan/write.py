"""A plan made from derivations already in the store: the ``.drv`` closure of the targets
and the sources those derivations use, every field as the ``.drv`` files have it.

Sources that are one small UTF-8 file are written inline (``contents``), so a plan of a
recipe with a script or a config file reads, and diffs, as the file itself.  Any other
source (a directory, a binary, a large file) is kept beside the plan as a NAR file
named by its node, with its sha256 in the plan, checked before it is used: a NAR is
exact (modes, symlinks, empty directories survive a git checkout, which a copied tree's
would not) and the store unpacks it as it unpacks a substitute.
"""

from __future__ import annotations

import os

from nixlite.plan.document import (
    FORMAT_VERSION,
    DrvNode,
    DrvOutputSpec,
    Plan,
    PlanError,
    SourceNode,
    dependency_order,
    encode_string,
    kind_of,
)
from nixlite.store.derivation import Derivation
from nixlite.store.hashes import Hash, hasher
from nixlite.store.local import LocalStore
from nixlite.store.nar import dump
from nixlite.store.paths import name_of

INLINE_LIMIT = 64 * 1024  # larger sources go to a NAR file beside the plan


def plan_of(store: LocalStore, targets: list[tuple[str, str]]) -> Plan:
    """The plan of ``targets`` (``(drv path, output)``), whose closure is in ``store``."""
    drvs: dict[str, Derivation] = {}
    todo = [drv_path for drv_path, _ in targets]
    while todo:
        drv_path = todo.pop()
        if drv_path not in drvs:
            drvs[drv_path] = store.read_derivation(drv_path)
            todo.extend(drvs[drv_path].input_drvs)
    sources: dict[str, tuple] = {}  # path -> (method, references)
    todo = [src for drv in drvs.values() for src in drv.input_srcs]
    while todo:
        path = todo.pop()
        if path not in sources:
            sources[path] = _source_info(store, path)
            todo.extend(sources[path][1])
    ids = _ids([*drvs, *sources])
    nodes: dict[str, SourceNode | DrvNode] = {}
    for path, (method, refs) in sources.items():
        nodes[ids[path]] = SourceNode(ids[path], name_of(path), method, path,
                                      sorted(ids[r] for r in refs))
    for drv_path, drv in drvs.items():
        outputs = {name: DrvOutputSpec(o.path, o.hash_algo, o.hash) for name, o in drv.outputs.items()}
        env = {k: v for k, v in drv.env.items()
               if not (k in drv.outputs and v == drv.outputs[k].path)}
        if len(env) + len(drv.outputs) != len(drv.env):
            raise PlanError(f"cannot plan '{drv_path}': its environment does not give its "
                            "outputs' paths as Nix's derivations do")
        nodes[ids[drv_path]] = DrvNode(
            ids[drv_path], kind_of(drv.builder, outputs, env), drv.name, drv_path, drv.platform,
            drv.builder, list(drv.args), env, outputs,
            {ids[p]: sorted(outs) for p, outs in drv.input_drvs.items()},
            sorted(ids[p] for p in drv.input_srcs))
    plan = Plan(store.store_dir, [(ids[p], o) for p, o in _unique(targets)], nodes)
    plan.nodes = {i: nodes[i] for i in dependency_order(plan)}
    return plan


def _source_info(store: LocalStore, path: str) -> tuple[str, list[str]]:
    """How a source was made (from its content address) and what it refers to."""
    info = store.query_path_info(path)
    if info is None:
        raise PlanError(f"cannot plan: the source '{path}' is not in the store")
    ca = info.ca or ""
    if ca.startswith("fixed:r:sha256:"):
        method = "nar"
    elif ca.startswith("fixed:sha256:"):
        method = "flat"
    elif ca.startswith("text:sha256:"):
        method = "text"
    else:
        raise PlanError(f"cannot plan: the input source '{path}' was not made from its content "
                        "(a build output or a substitute used as a source), so a plan cannot carry it")
    refs = sorted(info.references - {path})
    for ref in refs:
        if ref.endswith(".drv"):
            raise PlanError(f"cannot plan: the source '{path}' refers to the derivation '{ref}'")
    return method, refs


def _ids(paths: list[str]) -> dict[str, str]:
    """Node ids: the name (a ``.drv``'s without ``.drv``), with ``~`` and the start of the
    hash where several nodes share a name."""
    names = {p: name_of(p).removesuffix(".drv") if p.endswith(".drv") else name_of(p)
             for p in paths}
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    return {p: name if counts[name] == 1 else f"{name}~{os.path.basename(p)[:8]}"
            for p, name in names.items()}


def _unique(items):
    return list(dict.fromkeys(items))


def document(plan: Plan, store: LocalStore, nar_dir: str | None, nar_dir_name: str) -> dict:
    """The plan as a TOML-ready table; sources that are not inline are written into
    ``nar_dir`` (``nar_dir_name`` is how the plan names it, relative to itself)."""
    nodes = {}
    for node_id, node in plan.nodes.items():
        if isinstance(node, SourceNode):
            nodes[node_id] = _source_table(node, store, nar_dir, nar_dir_name)
        else:
            nodes[node_id] = _drv_table(node)
    if nar_dir is not None and os.path.isdir(nar_dir):  # those of nodes no longer there
        for entry in os.listdir(nar_dir):
            if entry.endswith(".nar") and entry[:-4] not in nodes:
                os.unlink(os.path.join(nar_dir, entry))
    return {
        "version": FORMAT_VERSION,
        "store-dir": plan.store_dir,
        "targets": [{"node": node_id, "output": output} for node_id, output in plan.targets],
        "nodes": nodes,
    }


def _source_table(node: SourceNode, store: LocalStore, nar_dir: str | None, nar_dir_name: str) -> dict:
    table = {"kind": "source", "name": node.name, "path": node.path, "method": node.method}
    if node.references:
        table["references"] = node.references
    physical = store.physical(node.path)
    st = os.lstat(physical)
    contents = _inline_contents(physical, st, node.method)
    if contents is not None:
        if node.method == "nar" and st.st_mode & 0o100:
            table["executable"] = True
        table["contents"] = contents
        return table
    if nar_dir is None:
        raise PlanError(f"the source '{node.path}' is not a small text file, so the plan keeps "
                        "it in a NAR file beside itself: write the plan to a file with -o FILE")
    os.makedirs(nar_dir, exist_ok=True)
    target = os.path.join(nar_dir, node.id + ".nar")
    h = hasher("sha256")
    temp = f"{target}.tmp-{os.getpid()}"
    try:
        with open(temp, "wb") as f:
            def sink(data: bytes) -> None:
                h.update(data)
                f.write(data)
            dump(physical, sink)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    table["nar-file"] = f"{nar_dir_name}/{node.id}.nar"
    table["nar-hash"] = Hash("sha256", h.digest()).sri()
    return table


def _inline_contents(physical: str, st: os.stat_result, method: str):
    """A single regular file's contents as the plan writes them, or None when it goes to
    a NAR file (a tree, a binary, a large file).  ``toFile`` texts are always inline."""
    import stat

    if not stat.S_ISREG(st.st_mode) or (method != "text" and st.st_size > INLINE_LIMIT):
        return None
    with open(physical, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return encode_string(data.decode("utf-8", "surrogateescape")) if method == "text" else None
    return text


def _drv_table(node: DrvNode) -> dict:
    outputs = {}
    for name in sorted(node.outputs):
        spec = node.outputs[name]
        outputs[name] = {"path": spec.path}
        if spec.hash_algo:
            outputs[name].update({"hash-algo": spec.hash_algo, "hash": spec.hash})
    table = {
        "kind": node.kind,
        "name": node.name,
        "drv": node.drv,
        "system": node.system,
        "builder": encode_string(node.builder),
        "args": [encode_string(a) for a in node.args],
        "input-drvs": dict(sorted(node.input_drvs.items())),
        "input-srcs": node.input_srcs,
        "outputs": outputs,
        "env": {k: encode_string(node.env[k]) for k in sorted(node.env)},
    }
    return {k: v for k, v in table.items() if v or k not in _OMITTED_WHEN_EMPTY}


_OMITTED_WHEN_EMPTY = ("args", "input-drvs", "input-srcs", "env")

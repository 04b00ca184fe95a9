"""Putting a plan into a store: its sources, then its derivations, dependencies first.

The plan's fields are what counts.  Every store path is recomputed from them (a source's
from its content, a derivation's ``.drv`` and outputs as ``derivationStrict`` computes
them), so an edited plan builds what it now says.  The paths a plan records are names:
where a recomputed path differs from the recorded one, the recorded hash is rewritten
to the new one in the strings of every node after it (as Nix rewrites hashes), so the
nodes that mention an edited node follow it.  A new node written by hand can use a
made-up path (any 32 base-32 characters) that others mention.  Content the plan does not
hold inline (a NAR file beside it) is checked against its recorded hash first.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

from nixlite.errors import NixliteError
from nixlite.plan.document import DrvNode, Plan, PlanError, SourceNode, dependency_order
from nixlite.store.derivation import (
    Derivation,
    DrvHasher,
    DrvOutput,
    finalize_fixed_output,
    finalize_input_addressed,
)
from nixlite.store.hashes import Hash, hasher, parse_algo, parse_hash
from nixlite.store.local import LocalStore, PathInfo, remove_tree
from nixlite.store.nar import dump_bytes
from nixlite.store.paths import (
    HASH_PART_LEN,
    is_store_path,
    make_fixed_output_path,
    make_text_path,
)


@dataclass
class Loaded:
    """The store paths of a loaded plan's nodes, and the recorded paths that changed."""

    drv_paths: dict[str, str] = field(default_factory=dict)            # node id -> .drv
    output_paths: dict[str, dict[str, str]] = field(default_factory=dict)  # node id -> outputs
    source_paths: dict[str, str] = field(default_factory=dict)         # node id -> path
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (node id, recorded, now)


def load(plan: Plan, store: LocalStore) -> Loaded:
    """Add every source and ``.drv`` of ``plan`` to ``store``, dependencies first."""
    if plan.store_dir != store.store_dir:
        raise PlanError(f"plan '{plan.origin}' is for the store directory '{plan.store_dir}', "
                        f"but this store's is '{store.store_dir}'")
    return _Loader(plan, store).run()


class _Loader:
    def __init__(self, plan: Plan, store: LocalStore) -> None:
        self.plan = plan
        self.store = store
        self.loaded = Loaded()
        self.rewrites: dict[str, str] = {}  # recorded hash part -> recomputed one
        self.drvs: dict[str, Derivation] = {}
        self.hasher = DrvHasher(self._derivation)

    def _derivation(self, drv_path: str) -> Derivation:
        return self.drvs.get(drv_path) or self.store.read_derivation(drv_path)

    def fail(self, node, key: str, message: str):
        raise PlanError(f"plan '{self.plan.origin}': node '{node.id}': field '{key}': {message}")

    def run(self) -> Loaded:
        with self.store.batch():
            for node_id in dependency_order(self.plan):
                node = self.plan.nodes[node_id]
                if isinstance(node, SourceNode):
                    self.loaded.source_paths[node_id] = self.source(node)
                else:
                    self.derivation(node)
        return self.loaded

    def note(self, node, key: str, recorded: str | None, now: str) -> None:
        """``now`` is where the node's ``key`` really is: rewrite ``recorded`` after it."""
        if recorded is None or recorded == now:
            return
        if not is_store_path(recorded, self.plan.store_dir):
            self.fail(node, key, f"'{recorded}' is not a store path in '{self.plan.store_dir}'")
        old = os.path.basename(recorded)[:HASH_PART_LEN]
        self.rewrites[old] = os.path.basename(now)[:HASH_PART_LEN]
        self.loaded.changed.append((node.id, recorded, now))

    def rewrite(self, s: str) -> str:
        for old, new in self.rewrites.items():
            if old in s:
                s = s.replace(old, new)
        return s

    # ------------------------------------------------------------ sources

    def source(self, node: SourceNode) -> str:
        refs = {self.loaded.source_paths[r] for r in node.references}
        if node.contents is not None:
            contents = node.contents
            if node.references:  # it mentions its references: follow them if they moved
                contents = self.rewrite(contents.decode("utf-8", "surrogateescape")).encode(
                    "utf-8", "surrogateescape")
            nar = io.BytesIO(dump_bytes(contents, node.executable))
            temp, nar_hash, size = self.store.restore_nar(nar)
        else:
            temp, nar_hash, size = self._restore_file(node)
        try:
            if node.method == "nar":
                path = make_fixed_output_path(True, nar_hash, node.name, refs,
                                              sdir=self.store.store_dir)
                ca = f"fixed:r:sha256:{nar_hash.base32()}"
            else:
                digest = self._single_file_hash(node, temp)
                if node.method == "flat":
                    path = make_fixed_output_path(False, digest, node.name, sdir=self.store.store_dir)
                    ca = f"fixed:sha256:{digest.base32()}"
                else:
                    path = make_text_path(node.name, digest.digest, refs, self.store.store_dir)
                    ca = f"text:sha256:{digest.base32()}"
        except NixliteError:
            remove_tree(temp)
            raise
        self.store.add_restored(temp, (nar_hash, size), PathInfo(path, nar_hash, size, refs, ca=ca))
        self.note(node, "path", node.path, path)
        return path

    def _restore_file(self, node: SourceNode):
        """Unpack the node's NAR file, checked against its ``nar-hash``."""
        try:
            expected = parse_hash(node.nar_hash)
        except NixliteError as exc:
            self.fail(node, "nar-hash", exc.message)
        if expected.algo != "sha256":
            self.fail(node, "nar-hash", f"expected a sha256 hash, got {expected.algo}")
        file = os.path.join(self.plan.base_dir, node.nar_file)
        try:
            f = open(file, "rb")
        except OSError as exc:
            self.fail(node, "nar-file", f"cannot read '{file}': {exc.strerror}")
        with f:
            try:
                temp, got, size = self.store.restore_nar(f)
            except NixliteError as exc:
                self.fail(node, "nar-file", f"'{file}' is not a valid NAR: {exc.message}")
        if got != expected:
            remove_tree(temp)
            self.fail(node, "nar-hash", f"hash mismatch: '{file}' has {got.sri()}, "
                                        f"the plan says {expected.sri()}")
        return temp, got, size

    def _single_file_hash(self, node: SourceNode, temp: str) -> Hash:
        """The sha256 of a flat or text source's one file (not executable, as Nix makes them)."""
        import stat

        st = os.lstat(temp)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o100:
            self.fail(node, "nar-file", f"a '{node.method}' source is one file, not executable")
        h = hasher("sha256")
        with open(temp, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return Hash("sha256", h.digest())

    # -------------------------------------------------------- derivations

    def derivation(self, node: DrvNode) -> None:
        loaded = self.loaded
        rewrite = self.rewrite
        drv = Derivation(
            name=node.name,
            outputs={name: DrvOutput("", o.hash_algo, o.hash) for name, o in node.outputs.items()},
            input_drvs={loaded.drv_paths[dep]: set(outs) for dep, outs in node.input_drvs.items()},
            input_srcs={loaded.source_paths[src] for src in node.input_srcs},
            platform=node.system, builder=rewrite(node.builder),
            args=[rewrite(a) for a in node.args],
            env={k: rewrite(v) for k, v in node.env.items()})
        try:
            if drv.is_fixed_output():
                finalize_fixed_output(drv, *self._fixed_hash(node))
            elif any(o.hash_algo for o in drv.outputs.values()):
                self.fail(node, "outputs", "only a derivation with the single output 'out' can "
                                           "have a fixed hash")
            else:
                finalize_input_addressed(drv, self.hasher)
            drv_path = self.store.add_derivation(drv)
        except PlanError:
            raise
        except NixliteError as exc:  # a bad name, a bad store path
            raise PlanError(f"plan '{self.plan.origin}': node '{node.id}': {exc.message}") from None
        self.drvs[drv_path] = drv
        loaded.drv_paths[node.id] = drv_path
        loaded.output_paths[node.id] = {name: o.path for name, o in drv.outputs.items()}
        self.note(node, "drv", node.drv, drv_path)
        for name, spec in node.outputs.items():
            self.note(node, f"outputs.{name}.path", spec.path, drv.outputs[name].path)

    def _fixed_hash(self, node: DrvNode) -> tuple[bool, Hash]:
        spec = node.outputs["out"]
        recursive = spec.hash_algo.startswith("r:")
        algo = spec.hash_algo.removeprefix("r:")
        try:
            parse_algo(algo)
        except NixliteError as exc:
            self.fail(node, "outputs.out.hash-algo", exc.message)
        try:
            digest = bytes.fromhex(spec.hash)
        except ValueError:
            digest = b""
        size = hasher(algo).digest_size
        if len(digest) != size or spec.hash != digest.hex():
            self.fail(node, "outputs.out.hash", f"expected {size * 2} lower-case hexadecimal "
                                                f"digits of a {algo} hash")
        return recursive, Hash(algo, digest)

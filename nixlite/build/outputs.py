"""What happens to a builder's outputs before they become valid.

As Nix's ``registerOutputs``: every output must exist; it is normalised
(``canonicalisePathMetaData``: mtime 1, mode 0444/0555, no setuid/setgid, owned
by the building user); its references are found by scanning its NAR for the
hash parts of the inputs' closure and of the derivation's own outputs; fixed
outputs are checked against their declared hash; ``allowedReferences`` and
friends are enforced.  Only then are the outputs registered, all at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor

from nixlite.errors import NixliteError
from nixlite.store.derivation import Derivation
from nixlite.store.hashes import NIXBASE32_ALPHABET, Hash, hash_file, nixbase32_encode
from nixlite.store.local import LocalStore, PathInfo
from nixlite.store.nar import dump
from nixlite.store.paths import HASH_PART_LEN, is_store_path


class OutputError(NixliteError):
    """An output breaks a rule (missing, wrong hash, forbidden reference)."""

    exit_bits = 0  # Nix's worker exit-status bits (0x02 for a hash mismatch)


class HashMismatch(OutputError):
    exit_bits = 0x06  # a build failure (0x04) that is a hash mismatch (0x02): status 102


def normalise(path: str) -> None:
    """Nix's canonical metadata, leaving the tree readable by its owner only as Nix does."""
    st = os.lstat(path)
    mode = st.st_mode
    if os.geteuid() == 0 and (st.st_uid != 0 or st.st_gid != 0):
        os.lchown(path, 0, 0)
    if not stat.S_ISLNK(mode):
        if stat.S_ISDIR(mode):
            for name in os.listdir(path):
                normalise(os.path.join(path, name))
        elif not stat.S_ISREG(mode):
            raise OutputError(f"file '{path}' has an unsupported type")
        perm = mode & 0o7777
        if perm not in (0o444, 0o555):
            os.chmod(path, 0o555 if mode & stat.S_IXUSR else 0o444)
    if st.st_mtime != 1:
        os.utime(path, (1, 1), follow_symlinks=False)


# every byte as 1 if it may be part of a hash part (nix-base32), else 0: runs of 32 ones are
# then found by bytes.find (C speed) instead of a regex trying every position
_BASE32_BYTES = bytes(int(chr(b) in NIXBASE32_ALPHABET) for b in range(256))
_RUN = b"\x01" * HASH_PART_LEN
_OVERLAP_SIZE = 1 << 16


class _ScanningSink:
    """NAR sink that hashes and finds the hash parts it was told to look for."""

    __slots__ = ("h", "size", "wanted", "found", "tail", "hasher")

    def __init__(self, wanted: dict[bytes, str], hasher: ThreadPoolExecutor | None = None) -> None:
        self.h = hashlib.sha256()
        self.size = 0
        self.wanted = wanted
        self.found: set[str] = set()
        self.tail = b""
        self.hasher = hasher  # hashes a big block while this thread scans it

    def __call__(self, data: bytes) -> None:
        hashing = None
        if self.hasher is not None and self.wanted and len(data) >= _OVERLAP_SIZE:
            hashing = self.hasher.submit(self.h.update, data)  # sha256 lets go of the GIL
        else:
            self.h.update(data)
        self.size += len(data)
        buf = self.tail + data
        if self.wanted:
            kinds = buf.translate(_BASE32_BYTES)
            start = kinds.find(_RUN)
            while start >= 0:
                end = kinds.find(0, start + HASH_PART_LEN)
                end = len(buf) if end < 0 else end
                self._look_in(buf[start:end])
                start = kinds.find(_RUN, end)
        self.tail = buf[-(HASH_PART_LEN - 1):]
        if hashing is not None:
            hashing.result()

    def _look_in(self, run: bytes) -> None:
        wanted = self.wanted
        for i in range(len(run) - HASH_PART_LEN + 1):
            p = wanted.get(run[i:i + HASH_PART_LEN])
            if p is not None:
                self.found.add(p)


def scan(real_path: str, candidates) -> tuple[Hash, int, set[str]]:
    """NAR hash, NAR size and the ``candidates`` (store paths) whose hash part occurs."""
    wanted = {}
    for p in candidates:
        start = p.rindex("/") + 1
        wanted[p[start:start + HASH_PART_LEN].encode()] = p
    with ThreadPoolExecutor(1, thread_name_prefix="nixlite-nar-hash") as hasher:
        sink = _ScanningSink(wanted, hasher)
        dump(real_path, sink)
    return Hash("sha256", sink.h.digest()), sink.size, sink.found


def rewrite_hashes(path: str, rewrites: dict[bytes, bytes]) -> None:
    """Replace equal-length hash parts in file contents and symlink targets (in place)."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        target = os.fsencode(os.readlink(path))
        new = _replace_all(target, rewrites)
        if new != target:
            os.unlink(path)
            os.symlink(new, path)
    elif stat.S_ISDIR(st.st_mode):
        os.chmod(path, st.st_mode | stat.S_IWUSR)
        for name in os.listdir(path):
            rewrite_hashes(os.path.join(path, name), rewrites)
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            data = f.read()
        new = _replace_all(data, rewrites)
        if new != data:
            os.chmod(path, st.st_mode | stat.S_IWUSR)
            with open(path, "r+b") as f:
                f.write(new)


def _replace_all(data: bytes, rewrites: dict[bytes, bytes]) -> bytes:
    for old, new in rewrites.items():
        data = data.replace(old, new)
    return data


def _fixed_output_info(drv_path: str, drv: Derivation, real: str, info: PathInfo) -> str:
    """Check a fixed output's hash; returns its content-address string."""
    out = drv.outputs["out"]
    recursive = out.hash_algo.startswith("r:")
    algo = out.hash_algo[2:] if recursive else out.hash_algo
    if not recursive:
        st = os.lstat(real)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & stat.S_IXUSR:
            raise OutputError(f"output path '{out.path}' should be a non-executable regular file "
                              "since recursive hashing is not enabled (outputHashMode=flat)")
        got = hash_file(algo, real)
    elif algo == "sha256":
        got = info.nar_hash
    else:
        h = hashlib.new(algo)
        dump(real, h.update)
        got = Hash(algo, h.digest())
    wanted = Hash(algo, bytes.fromhex(out.hash))
    if got != wanted:
        raise HashMismatch(f"hash mismatch in fixed-output derivation '{drv_path}':\n"
                           f"  specified: {wanted.sri()}\n     got:    {got.sri()}")
    if info.references:
        # Nix 2.8 registered such outputs with references their path does not account for;
        # today's Nix refuses them, with this message
        raise OutputError(f"fixed output derivation '{drv.name}' is not allowed to refer to other "
                          "store paths.\nYou may need to use the 'unsafeDiscardReferences' "
                          "derivation attribute, see the manual for more details.")
    return f"fixed:{'r:' if recursive else ''}{algo}:{nixbase32_encode(got.digest)}"


def collect_outputs(store: LocalStore, drv_path: str, drv: Derivation, locations: dict[str, str],
                    input_closure: set[str]) -> list[PathInfo]:
    """Normalise, scan and check the outputs a build left at ``locations`` (output name →
    physical path); returns their path infos, ready to register."""
    own = {o.path for o in drv.outputs.values()}
    candidates = input_closure | own
    discard = _discarded_references(drv)
    infos: dict[str, PathInfo] = {}
    for name in sorted(locations):
        real = locations[name]
        logical = drv.outputs[name].path
        if not os.path.lexists(real):
            raise OutputError(f"builder for '{drv_path}' failed to produce output path for output "
                              f"'{name}' at '{logical}'")
        normalise(real)
        nar_hash, size, refs = scan(real, candidates if name not in discard else ())
        info = PathInfo(logical, nar_hash, size, refs, deriver=drv_path)
        if drv.is_fixed_output():
            info.ca = _fixed_output_info(drv_path, drv, real, info)
        infos[name] = info
    _check_no_cycle(drv_path, infos)
    check_references(store, drv, infos)
    return list(infos.values())


def _discarded_references(drv: Derivation) -> set[str]:
    """Outputs named in ``unsafeDiscardReferences`` (structured attributes only), whose
    references are not scanned."""
    if "__json" not in drv.env:
        return set()
    wanted = json.loads(drv.env["__json"]).get("unsafeDiscardReferences") or {}
    if not isinstance(wanted, dict):
        return set()
    return {name for name, v in wanted.items() if v is True}


def _check_no_cycle(drv_path: str, infos: dict[str, PathInfo]) -> None:
    """Outputs may refer to each other, but not in a cycle (Nix's message)."""
    name_of = {i.path: n for n, i in infos.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, parent: str | None) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise OutputError(f"cycle detected in build of '{drv_path}' in the references of output "
                              f"'{name}' from output '{parent}'")
        state[name] = 1
        for ref in sorted(infos[name].references):
            if ref in name_of and ref != infos[name].path:
                visit(name_of[ref], name)
        state[name] = 2

    for name in sorted(infos):
        visit(name, None)


_CHECKS = ("allowedReferences", "allowedRequisites", "disallowedReferences", "disallowedRequisites")


def check_references(store: LocalStore, drv: Derivation, infos: dict[str, PathInfo]) -> None:
    """``allowedReferences``/``allowedRequisites``/``disallowed…``, with Nix's message."""
    structured = json.loads(drv.env["__json"]) if "__json" in drv.env else None
    by_path = {i.path: i for i in infos.values()}

    def closure(path: str) -> set[str]:
        seen: set[str] = set()
        todo = [path]
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            todo.extend(by_path[p].references if p in by_path else store.references(p))
        return seen

    for name, info in infos.items():
        if structured is not None:
            checks = (structured.get("outputChecks") or {}).get(name) or {}
            ignore_self = bool(checks.get("ignoreSelfRefs", False))
        else:
            checks = {k: drv.env[k].split() for k in _CHECKS if k in drv.env}
            ignore_self = True
        for key in _CHECKS:
            spec_list = checks.get(key)
            if spec_list is None:
                continue
            spec = set()
            for item in spec_list:
                if is_store_path(item, store.store_dir):
                    spec.add(item)
                elif item in drv.outputs:
                    spec.add(drv.outputs[item].path)
                else:
                    raise OutputError(f"derivation contains an illegal reference specifier '{item}'")
            recursive = key.endswith("Requisites")
            used = closure(info.path) if recursive else set(info.references)
            if recursive and ignore_self:
                used.discard(info.path)
            allowed = key.startswith("allowed")
            bad = sorted(p for p in used if (p not in spec) == allowed)
            if bad:
                raise OutputError(f"output '{info.path}' is not allowed to refer to the following paths:"
                                  + "".join(f"\n  {p}" for p in bad))

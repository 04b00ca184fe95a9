"""The local store: logical ``/nix/store``, kept where an ordinary user can write.

Layout under the store root (``--store DIR``, ``$NIXLITE_STORE``, else
``$XDG_DATA_HOME/nixlite/store`` or ``~/.local/share/nixlite/store``)::

    store/<hash>-<name>   the contents of logical path <storeDir>/<hash>-<name>
    tmp/                  objects being written (same file system as store/)
    db.sqlite             valid paths: NAR hash and size, references, deriver, time, CA
    lock                  flock taken by every writer

Validity is the database, not the file system.  Adding an object: build it
under ``tmp/``, fsync it, take the lock, rename it into ``store/`` and
register it in one transaction.  A writer killed at any point leaves either
nothing valid or a complete, registered object; leftovers (a stale temp dir,
or a renamed but unregistered path) are cleaned up by the next writer.  Two
processes adding the same path both succeed and the second one's copy is
simply discarded.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import time
from dataclasses import dataclass, field

from nixlite.errors import NixliteError, SetupError
from nixlite.store.derivation import Derivation, parse_derivation
from nixlite.store.hashes import BadHash, Hash, hash_file, hash_stream, hasher, nixbase32_encode, parse_hash
from nixlite.store.nar import NarError, PathFilter, dump, nar_hash, nar_hash_bytes, restore
from nixlite.store.paths import (
    make_fixed_output_path,
    make_text_path,
    name_of,
    store_dir,
)


class StoreError(NixliteError):
    """The store cannot do what was asked (missing path, corrupt DB, …)."""


class StoreUnavailable(StoreError, SetupError):
    """The store cannot be opened at all: a matter of configuration, not of the expression
    that happened to need the store first."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS ValidPaths (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    path             TEXT UNIQUE NOT NULL,
    hash             TEXT NOT NULL,
    registrationTime INTEGER NOT NULL,
    deriver          TEXT,
    narSize          INTEGER NOT NULL,
    ca               TEXT
);
CREATE TABLE IF NOT EXISTS Refs (
    referrer  INTEGER NOT NULL REFERENCES ValidPaths(id) ON DELETE CASCADE,
    reference TEXT NOT NULL,
    PRIMARY KEY (referrer, reference)
);
CREATE INDEX IF NOT EXISTS IndexReference ON Refs(reference);
CREATE TABLE IF NOT EXISTS FetchCache (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    time  INTEGER NOT NULL
);
"""


@dataclass(slots=True)
class PathInfo:
    path: str
    nar_hash: Hash
    nar_size: int
    references: set[str] = field(default_factory=set)
    deriver: str | None = None
    registration_time: int = 0
    ca: str | None = None
    sigs: set[str] = field(default_factory=set)  # "keyname:base64" signatures over fingerprint()

    def fingerprint(self) -> str:
        """What signatures sign (Nix's ``ValidPathInfo::fingerprint``)."""
        if self.nar_hash.algo != "sha256":
            raise StoreError(f"cannot calculate fingerprint of path '{self.path}' "
                             "because its hash is not sha256")
        return f"1;{self.path};sha256:{self.nar_hash.base32()};{self.nar_size};{','.join(sorted(self.references))}"


def default_root() -> str:
    env = os.environ.get("NIXLITE_STORE")
    if env:
        return os.path.abspath(env)
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "nixlite", "store")


def _fsync_tree(path: str) -> None:
    """Flush a freshly written tree (files, then directories) to disk."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    if stat.S_ISDIR(st.st_mode):
        for name in os.listdir(path):
            _fsync_tree(os.path.join(path, name))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def _flush_to_disk(anchor: str, trees) -> None:
    """Make the given new trees durable: one ``syncfs`` of the store's file system
    (far cheaper than an fsync per file), else an fsync of every file."""
    if _SYNCFS is not None:
        fd = os.open(anchor, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    for tree in trees:
        if os.path.lexists(tree):
            _fsync_tree(tree)


def _canonicalise(path: str) -> None:
    """Store objects are read-only with mtime 1, as in Nix (files 0444/0555, dirs 0555)."""
    st = os.lstat(path)
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        os.utime(path, (1, 1), follow_symlinks=False)
        return
    if stat.S_ISDIR(mode):
        for name in os.listdir(path):
            _canonicalise(os.path.join(path, name))
        os.chmod(path, 0o555)
    else:
        os.chmod(path, 0o555 if mode & stat.S_IXUSR else 0o444)
    os.utime(path, (1, 1))


def remove_tree(path: str) -> None:
    """Delete a (possibly read-only) tree."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirnames, _ in os.walk(path):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(path)
    else:
        os.unlink(path)


class LocalStore:
    """A store rooted at ``root`` whose logical directory is ``store_dir()``."""

    def __init__(self, root: str | None = None, sdir: str | None = None) -> None:
        self.root = os.path.abspath(root or default_root())
        self.store_dir = sdir or store_dir()
        self.real_dir = os.path.join(self.root, "store")
        self.tmp_dir = os.path.join(self.root, "tmp")
        if os.path.realpath(self.real_dir) == os.path.realpath("/nix/store") or \
                os.path.realpath(self.root) == os.path.realpath("/nix"):
            raise StoreUnavailable(f"refusing to use '{self.root}' as a nixlite store: it is Nix's own store")
        try:
            os.makedirs(self.real_dir, exist_ok=True)
            os.makedirs(self.tmp_dir, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the store at '{self.root}': {exc.strerror}") from None
        self._lock_path = os.path.join(self.root, "lock")
        db_path = os.path.join(self.root, "db.sqlite")
        try:
            self._db = sqlite3.connect(db_path, timeout=60,
                                       check_same_thread=False,  # evaluation runs on a big-stack thread
                                       isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 60000")
            with self.lock():
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.executescript(_SCHEMA)
                self._add_sigs_column()
                self._clean_stale_temps()  # what killed writers left, as Nix does on start
            self._db.execute("PRAGMA foreign_keys = ON")
            # WAL + NORMAL: a commit survives any process crash; after a power loss the
            # newest registrations may be rolled back, which only makes paths invalid again.
            self._db.execute("PRAGMA synchronous = NORMAL")
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open the store database '{db_path}': {exc}") from None
        self._valid_cache: set[str] = set()
        self._pending: dict[str, PathInfo] = {}  # added in deferred mode, not yet registered
        self._deferred = False
        self._drv_cache: dict[str, Derivation] = {}

    def _add_sigs_column(self) -> None:
        """Stores made before signatures were kept lack ``ValidPaths.sigs`` (space-separated)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(ValidPaths)")}
        if "sigs" not in columns:
            self._db.execute("ALTER TABLE ValidPaths ADD COLUMN sigs TEXT")

    def close(self) -> None:
        self.flush()
        self._db.close()

    # ------------------------------------------------------------------ paths

    def physical(self, path: str) -> str:
        """Where the logical ``path`` (a store path or a path below one) really is."""
        sdir = self.store_dir
        if not path.startswith(sdir + "/"):
            raise StoreError(f"path '{path}' is not in the Nix store")
        return self.real_dir + path[len(sdir):]

    def logical(self, real_path: str) -> str:
        if real_path == self.real_dir or real_path.startswith(self.real_dir + "/"):
            return self.store_dir + real_path[len(self.real_dir):]
        return real_path

    # --------------------------------------------------------------- queries

    def is_valid(self, path: str) -> bool:
        if path in self._valid_cache:
            return True
        row = self._db.execute("SELECT 1 FROM ValidPaths WHERE path = ?", (path,)).fetchone()
        if row is not None:
            self._valid_cache.add(path)
            return True
        return False

    def query_path_info(self, path: str) -> PathInfo | None:
        pending = self._pending.get(path)
        if pending is not None:
            return pending
        row = self._db.execute(
            "SELECT id, hash, registrationTime, deriver, narSize, ca, sigs FROM ValidPaths WHERE path = ?",
            (path,),
        ).fetchone()
        if row is None:
            return None
        pid, h, reg, deriver, size, ca, sigs = row
        refs = {r for (r,) in self._db.execute("SELECT reference FROM Refs WHERE referrer = ?", (pid,))}
        algo, _, hexdigest = h.partition(":")
        return PathInfo(path, Hash(algo, bytes.fromhex(hexdigest)), size, refs, deriver, reg, ca,
                        set(sigs.split()) if sigs else set())

    def references(self, path: str) -> set[str]:
        info = self.query_path_info(path)
        if info is None:
            raise StoreError(f"path '{path}' is not valid")
        return info.references

    def all_valid_paths(self) -> list[str]:
        self.flush()
        return [p for (p,) in self._db.execute("SELECT path FROM ValidPaths ORDER BY path")]

    def closure(self, paths) -> set[str]:
        """Every path reachable from ``paths`` through references (including them)."""
        seen: set[str] = set()
        todo = list(paths)
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            todo.extend(self.references(p) - seen)
        return seen

    def read_text(self, path: str) -> bytes:
        with open(self.physical(path), "rb") as f:
            return f.read()

    def read_derivation(self, drv_path: str) -> Derivation:
        drv = self._drv_cache.get(drv_path)
        if drv is None:
            if not self.is_valid(drv_path):
                raise StoreError(f"path '{drv_path}' is not valid")
            text = self.read_text(drv_path).decode("utf-8", "surrogateescape")
            drv = parse_derivation(text, name_of(drv_path)[:-4], drv_path)
            self._drv_cache[drv_path] = drv
        return drv

    # ------------------------------------------------------------------ adds

    @contextlib.contextmanager
    def lock(self):
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _new_temp(self) -> str:
        return os.path.join(self.tmp_dir, f"{os.getpid()}-{os.urandom(6).hex()}")

    def _check_refs(self, path: str, refs) -> None:
        for r in refs:
            if r != path and not self.is_valid(r):
                raise StoreError(f"cannot add '{path}': its reference '{r}' is not valid")

    def defer_registration(self) -> None:
        """Group commit for evaluations that add many small paths (``.drv`` files).

        Objects still go into place atomically, but their registration is
        collected and written by ``flush()`` — after one ``syncfs`` — in a single
        transaction (also at exit).  Until then they are valid for this process
        only; if the process dies first they stay unregistered, which is safe.
        """
        if not self._deferred:
            self._deferred = True
            atexit.register(self.flush)

    @contextlib.contextmanager
    def batch(self):
        """Group commit for a burst of adds (a substituted closure): objects go into place
        as they come, and are registered after one ``syncfs`` in one transaction when the
        block ends (also when it ends by an exception: what was added is complete)."""
        if self._deferred:
            yield
            return
        self._deferred = True
        try:
            yield
        finally:
            self._deferred = False
            self.flush()

    def flush(self) -> None:
        """Register the paths added in deferred mode (no-op when there are none)."""
        if not self._pending:
            return
        pending, self._pending = list(self._pending.values()), {}
        _flush_to_disk(self.real_dir, [self.physical(i.path) for i in pending])
        with self.lock():
            self._register(pending)

    def _commit(self, temp: str, info: PathInfo, canonical: bool = False) -> None:
        """Move the finished object at ``temp`` into place and register it
        (``canonical``: its modes and times are already the store's)."""
        if not canonical:
            _canonicalise(temp)
        if not self._deferred:
            _flush_to_disk(self.tmp_dir, [temp])
        final = self.physical(info.path)
        with self.lock():
            if self.is_valid(info.path):
                remove_tree(temp)
                return
            if os.path.lexists(final):
                remove_tree(final)  # left by a writer that died before registering
            os.rename(temp, final)
            if self._deferred:
                self._pending[info.path] = info
            else:
                self._register([info])
        self._valid_cache.add(info.path)

    def _register(self, infos: list[PathInfo]) -> None:
        """One transaction for all of ``infos`` (in order: references come first)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            now = int(time.time())
            for info in infos:
                cur = db.execute(
                    "INSERT OR IGNORE INTO ValidPaths (path, hash, registrationTime, deriver, narSize, ca, sigs)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (info.path, f"{info.nar_hash.algo}:{info.nar_hash.hex()}",
                     info.registration_time or now, info.deriver, info.nar_size, info.ca,
                     " ".join(sorted(info.sigs)) or None),
                )
                if cur.rowcount:
                    db.executemany("INSERT INTO Refs (referrer, reference) VALUES (?, ?)",
                                   [(cur.lastrowid, r) for r in sorted(info.references)])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _clean_stale_temps(self) -> None:
        """Remove temp objects of processes that no longer exist (called under the lock)."""
        for name in os.listdir(self.tmp_dir):
            pid = name.split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                remove_tree(os.path.join(self.tmp_dir, name))

    def add_text(self, name: str, contents: bytes, refs=()) -> str:
        """A ``text`` object (``toFile``, ``.drv`` files); returns its store path."""
        refs = set(refs)
        digest = hashlib.sha256(contents).digest()
        path = make_text_path(name, digest, refs, self.store_dir)
        if self.is_valid(path):
            return path
        self._check_refs(path, refs)
        temp = self._new_temp()
        with open(temp, "xb") as f:
            f.write(contents)
        h, size = nar_hash_bytes(contents)
        self._commit(temp, PathInfo(path, h, size, refs, ca=f"text:sha256:{nixbase32_encode(digest)}"))
        return path

    def add_derivation(self, drv: Derivation) -> str:
        path = self.add_text(drv.name + ".drv", drv.to_bytes(), drv.references())
        self._drv_cache.setdefault(path, drv)
        return path

    def compute_path(self, src: str, name: str, recursive: bool = True,
                     path_filter: PathFilter | None = None, refs=()) -> tuple[str, Hash]:
        """The store path ``add_path`` would give, without writing (read-only mode)."""
        if recursive:
            h, _ = nar_hash(src, path_filter)
        else:
            h = _flat_hash(src, "sha256")
        return make_fixed_output_path(recursive, h, name, refs, sdir=self.store_dir), h

    def add_path(self, src: str, name: str, recursive: bool = True,
                 path_filter: PathFilter | None = None, refs=()) -> tuple[str, Hash]:
        """Copy a file-system path into the store (``"${./p}"``, ``builtins.path``).

        Returns ``(store path, content hash)``: the NAR sha256 when recursive,
        the flat file sha256 otherwise.  Hashes first (read-only), so adding a
        path that is already valid writes nothing.
        """
        refs = set(refs)
        if path_filter is not None:
            path_filter = _once_per_path(path_filter)  # the copy pass must not call it again
        path, h = self.compute_path(src, name, recursive, path_filter, refs)
        if self.is_valid(path):
            return path, h
        self._check_refs(path, refs)
        temp = self._new_temp()
        try:
            if recursive:
                h2, size = nar_hash(src, path_filter, mirror_to=temp)
                nh = h2
                ca = f"fixed:r:sha256:{h2.base32()}"
            else:
                h2 = _copy_flat(src, temp)
                nh, size = nar_hash(temp)
                ca = f"fixed:sha256:{h2.base32()}"
            if h2 != h:
                raise StoreError(f"path '{src}' changed while it was being added to the store")
            self._commit(temp, PathInfo(path, nh, size, refs, ca=ca))
        finally:
            if os.path.lexists(temp):
                remove_tree(temp)
        return path, h

    def add_prepared(self, temp_tree: str, path: str, refs=(), ca: str | None = None,
                     deriver: str | None = None) -> str:
        """Register a tree that a fetcher unpacked under ``tmp_dir()`` as ``path`` (moved)."""
        refs = set(refs)
        try:
            if self.is_valid(path):
                return path
            self._check_refs(path, refs)
            nh, size = nar_hash(temp_tree)
            self._commit(temp_tree, PathInfo(path, nh, size, refs, deriver, ca=ca))
        finally:
            if os.path.lexists(temp_tree):
                remove_tree(temp_tree)
        return path

    def restore_nar(self, source, expected_size: int | None = None) -> tuple[str, Hash, int]:
        """Unpack a NAR stream into a fresh temp name: ``(temp, NAR sha256, NAR size)``.

        Nothing is registered: the caller checks the hash (and signatures)
        and then calls ``add_restored``, or ``remove_tree(temp)``.  Thread-safe (it
        touches only ``tmp/``), so downloads can be unpacked in parallel.
        Reading more than ``expected_size`` bytes stops early with an error.
        """
        temp = self._new_temp()
        try:
            h, size = restore(source, temp, limit=expected_size, canonical=True)
        except BaseException:
            remove_tree(temp)
            raise
        return temp, h, size

    def add_restored(self, temp: str, got: tuple[Hash, int], info: PathInfo) -> str:
        """Register the tree ``restore_nar`` left at ``temp`` as ``info`` if it is what
        ``info`` says (NAR hash and size, Nix's wording otherwise); the temp is
        consumed either way.  References (other than itself) must already be valid."""
        try:
            if self.is_valid(info.path):
                return info.path
            check_nar(info, got)
            _check_ca(temp, info)
            self._check_refs(info.path, info.references)
            self._commit(temp, info, canonical=True)
        finally:
            remove_tree(temp)
        return info.path

    def add_signatures(self, path: str, sigs) -> None:
        """Record more signatures for a valid path (``nixlite store sign``)."""
        info = self.query_path_info(path)
        if info is None:
            raise StoreError(f"path '{path}' is not valid")
        merged = info.sigs | set(sigs)
        if merged != info.sigs:
            self.flush()
            with self.lock():
                self._db.execute("UPDATE ValidPaths SET sigs = ? WHERE path = ?",
                                 (" ".join(sorted(merged)), path))

    def make_temp_dir(self) -> str:
        """A fresh private directory on the store's file system (for fetchers)."""
        d = self._new_temp()
        os.mkdir(d)
        return d

    # ------------------------------------------------------------ fetch cache

    def cache_get(self, key: str, ttl: int | None = None):
        """A fetcher's cached JSON value, if younger than ``ttl`` seconds (``None``: forever)."""
        row = self._db.execute("SELECT value, time FROM FetchCache WHERE key = ?", (key,)).fetchone()
        if row is None or (ttl is not None and time.time() - row[1] > ttl):
            return None
        return json.loads(row[0])

    def cache_put(self, key: str, value) -> None:
        with self.lock():
            self._db.execute("INSERT OR REPLACE INTO FetchCache (key, value, time) VALUES (?, ?, ?)",
                             (key, json.dumps(value, sort_keys=True), int(time.time())))

    # --------------------------------------------------------------- checking

    def verify(self, check_contents: bool = True) -> list[str]:
        """Problems found: missing objects, NAR hash mismatches, dangling references."""
        problems = []
        valid = set(self.all_valid_paths())
        for p in sorted(valid):
            info = self.query_path_info(p)
            real = self.physical(p)
            if not os.path.lexists(real):
                problems.append(f"path '{p}' is valid but missing")
                continue
            for r in info.references:
                if r != p and r not in valid:
                    problems.append(f"path '{p}' refers to invalid path '{r}'")
            if check_contents:
                try:
                    h, size = nar_hash(real)
                except NarError as exc:
                    problems.append(str(exc))
                    continue
                if h != info.nar_hash or size != info.nar_size:
                    problems.append(f"path '{p}' was modified: expected {info.nar_hash.sri()}, got {h.sri()}")
        return problems


    # ------------------------------------------------ builds: logs, locks, roots, gc
    #
    # Layout additions under the store root:
    #   log/<drv basename>        the build log of a derivation (plain text)
    #   locks/<hash part>.lock    flock held while an output is being built
    #   gcroots/auto/<h>          symlink to a result link (indirect root, as Nix's)
    #   gc.lock                   builds hold it shared, the collector exclusive

    def _subdir(self, name: str) -> str:
        d = os.path.join(self.root, name)
        os.makedirs(d, exist_ok=True)
        return d

    def log_path(self, drv_path: str) -> str:
        return os.path.join(self._subdir("log"), os.path.basename(drv_path))

    def read_log(self, path: str) -> bytes | None:
        """The build log of ``path`` (a .drv, or an output whose deriver is known)."""
        candidates = [path]
        info = self.query_path_info(path)
        if info is not None and info.deriver:
            candidates.append(info.deriver)
        for p in candidates:
            try:
                with open(self.log_path(p), "rb") as f:
                    return f.read()
            except FileNotFoundError:
                continue
        return None

    def new_log(self, drv_path: str):
        """A log file being written: ``(file, commit)``; ``commit()`` moves it into place."""
        final = self.log_path(drv_path)
        temp = f"{final}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
        f = open(temp, "wb", buffering=0)

        def commit() -> None:
            f.close()
            os.replace(temp, final)

        return f, commit

    def try_lock_outputs(self, paths) -> list[int] | None:
        """Non-blocking per-output locks (all or none): file descriptors, or None if busy."""
        d = self._subdir("locks")
        fds: list[int] = []
        for p in sorted(paths):
            fd = os.open(os.path.join(d, os.path.basename(p)[:32] + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self.unlock(fds)
                return None
            fds.append(fd)
        return fds

    @staticmethod
    def unlock(fds) -> None:
        for fd in fds:
            os.close(fd)

    def gc_lock(self, exclusive: bool) -> int:
        """Builds hold this shared for their whole run; the collector takes it exclusive,
        so it never deletes what a running build is using or has just made."""
        fd = os.open(os.path.join(self.root, "gc.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        return fd

    def register_outputs(self, infos: list[PathInfo]) -> None:
        """Register the outputs a builder wrote in place (all of one derivation, one
        transaction).  Like Nix, without flushing them to disk first: a ``syncfs`` per
        build cost more than the build itself on a busy disk, and a process crash
        cannot leave a registered output incomplete."""
        self.flush()  # their deriver and inputs first
        with self.lock():
            self._register(infos)
        self._valid_cache.update(i.path for i in infos)

    def add_perm_root(self, link: str, path: str) -> str:
        """Point the symlink ``link`` at where the store path ``path`` really is (its
        directories made, replaced atomically) and make it a GC root, as Nix's
        ``addPermRoot``: a file, directory or link out of the store already at ``link`` is
        the user's, and is refused rather than replaced."""
        link = os.path.abspath(link)
        if os.path.lexists(link):
            target = os.readlink(link) if os.path.islink(link) else None
            if target is None or not any(target.startswith(d + "/")
                                         for d in (self.real_dir, self.store_dir)):
                raise StoreError(f"cannot create symlink '{link}'; already exists")
        os.makedirs(os.path.dirname(link), exist_ok=True)
        temp = f"{link}.tmp-{os.getpid()}"
        os.symlink(self.physical(path), temp)
        os.replace(temp, link)
        self.add_indirect_root(link)
        return link

    def add_indirect_root(self, link: str) -> None:
        """Make the symlink ``link`` (a result link) a GC root, as Nix's ``gcroots/auto``."""
        link = os.path.abspath(link)
        name = nixbase32_encode(hashlib.sha1(os.fsencode(link)).digest())
        d = self._subdir(os.path.join("gcroots", "auto"))
        temp = os.path.join(d, f".{name}.tmp-{os.getpid()}")
        os.symlink(link, temp)
        os.replace(temp, os.path.join(d, name))

    def _as_store_path(self, target: str) -> str | None:
        """The store path a symlink target (logical or physical) names, if any."""
        for prefix in (self.real_dir + "/", self.store_dir + "/"):
            if target.startswith(prefix):
                base = target[len(prefix):].split("/", 1)[0]
                p = f"{self.store_dir}/{base}"
                return p if self.is_valid(p) else None
        return None

    def find_roots(self, remove_stale: bool = True) -> dict[str, str]:
        """GC roots: link → store path.  Stale indirect roots (the link is gone or no
        longer points into the store) are removed, as Nix does."""
        roots: dict[str, str] = {}
        base = self._subdir("gcroots")
        for dirpath, _dirs, files in os.walk(base):
            for name in files + [d for d in _dirs if os.path.islink(os.path.join(dirpath, d))]:
                entry = os.path.join(dirpath, name)
                if not os.path.islink(entry) or name.startswith("."):
                    continue
                target = os.readlink(entry)
                sp = self._as_store_path(target)
                if sp is None and os.path.islink(target):
                    sp = self._as_store_path(os.readlink(target))
                    if sp is not None:
                        roots[target] = sp
                        continue
                if sp is not None:
                    roots[entry] = sp
                elif remove_stale and dirpath.endswith(os.sep + "auto"):
                    os.unlink(entry)
        return roots

    def referrers(self, path: str) -> set[str]:
        return {p for (p,) in self._db.execute(
            "SELECT v.path FROM Refs r JOIN ValidPaths v ON v.id = r.referrer WHERE r.reference = ?",
            (path,))} - {path}

    def live_paths(self) -> set[str]:
        """What the roots reach, with the derivers of live paths (Nix's keep-derivations)."""
        live = self.closure(set(self.find_roots().values()))
        todo = list(live)
        while todo:
            info = self.query_path_info(todo.pop())
            d = info.deriver if info is not None else None
            if d and d not in live and self.is_valid(d):
                new = self.closure([d]) - live
                live |= new
                todo.extend(new)
        return live

    def delete_paths(self, paths, max_freed: int | None = None, dry_run: bool = False,
                     on_delete=None) -> tuple[list[str], int]:
        """Delete dead ``paths`` referrers first; returns (deleted, bytes freed).
        Callers hold ``gc_lock(exclusive=True)``."""
        paths = set(paths)
        order = reversed(dependencies_first(paths, lambda p: self.references(p) & paths))
        deleted: list[str] = []
        freed = 0
        for p in order:
            if max_freed is not None and freed >= max_freed:
                break
            info = self.query_path_info(p)
            if on_delete is not None:
                on_delete(p)
            if not dry_run:
                with self.lock():
                    self._db.execute("DELETE FROM ValidPaths WHERE path = ?", (p,))
                    self._valid_cache.discard(p)
                    self._drv_cache.pop(p, None)
                    remove_tree(self.physical(p))
            freed += info.nar_size if info is not None else 0
            deleted.append(p)
        return deleted, freed

def check_nar(info: PathInfo, got: tuple[Hash, int]) -> None:
    """The NAR hash and size ``got`` while unpacking are what ``info`` says (Nix's wording)."""
    h, size = got
    if h != info.nar_hash:
        raise StoreError(f"hash mismatch importing path '{info.path}';\n"
                         f"  specified: {info.nar_hash.to_string('base32')}\n"
                         f"  got:       {h.to_string('base32')}")
    if size != info.nar_size:
        raise StoreError(f"size mismatch importing path '{info.path}';\n"
                         f"  specified: {info.nar_size}\n  got:       {size}")


def _check_ca(tree: str, info: PathInfo) -> None:
    """A path that claims a content address (``CA:``) really has that content, so a
    cache cannot get unsigned content in by claiming one (Nix: "ca hash mismatch")."""
    if not info.ca:
        return
    method, _, rest = info.ca.partition(":")
    recursive = method == "fixed" and rest.startswith("r:")
    try:
        if method not in ("text", "fixed"):
            raise BadHash(f"unknown content address method '{method}'")
        expected = parse_hash(rest[2:] if recursive else rest)
    except BadHash as exc:
        raise StoreError(f"path '{info.path}' has a bad content address '{info.ca}': {exc}") from None
    if recursive and expected.algo == "sha256":
        got = info.nar_hash  # the NAR hash, already checked against the tree
    elif recursive:
        h = hasher(expected.algo)
        dump(tree, h.update)
        got = Hash(expected.algo, h.digest())
    else:
        got = _flat_hash(tree, expected.algo)
    if got != expected:
        raise StoreError(f"ca hash mismatch importing path '{info.path}';\n"
                         f"  specified: {expected.to_string('base32')}\n"
                         f"  got:       {got.to_string('base32')}")


def _once_per_path(path_filter: PathFilter) -> PathFilter:
    """A filter that asks the wrapped one (a Nix function with possible traces) once per path."""
    seen: dict[str, bool] = {}

    def filt(p: str, kind: str) -> bool:
        r = seen.get(p)
        if r is None:
            r = seen[p] = path_filter(p, kind)
        return r

    return filt


def dependencies_first(paths, refs_within) -> list[str]:
    """``paths`` ordered so that each comes after the paths it refers to: Nix's
    ``topoSortPaths`` reversed (a depth-first walk over the sorted paths, visiting each
    one's references in sorted order)."""
    out: list[str] = []
    seen: set[str] = set()
    for start in sorted(paths):
        stack = [(start, False)]
        while stack:
            p, done = stack.pop()
            if done:
                out.append(p)
                continue
            if p in seen:
                continue
            seen.add(p)
            stack.append((p, True))
            refs = sorted(r for r in refs_within(p) if r != p and r not in seen)
            stack.extend((r, False) for r in reversed(refs))
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _flat_hash(path: str, algo: str) -> Hash:
    _require_regular(path)
    return hash_file(algo, path)


def _require_regular(path: str) -> os.stat_result:
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"file '{path}' is not a regular file; it cannot be added with recursive = false")
    return st


def _copy_flat(src: str, dest: str) -> Hash:
    st = _require_regular(src)
    h = hasher("sha256")
    with open(src, "rb") as f, open(dest, "xb") as out:
        hash_stream(h, f, out)
    # the store path hashes only the bytes, but Nix 2.8 keeps the executable bit
    # of the source (nix-store --add-fixed), so the NAR hash includes it
    if st.st_mode & stat.S_IXUSR:
        os.chmod(dest, 0o755)
    return Hash("sha256", h.digest())

"""Fetchers: files and tarballs over HTTP(S)/file URLs, and Git repositories via pygit2.

Every fetcher prepares its result in a private directory on the store's file
system, checks the expected hash *before* anything is registered (a mismatch
stores nothing), then moves the result into the store atomically.  Results
are content-addressed exactly as Nix 2.8 addresses them: ``fetchurl`` is a
flat sha256 fixed output named after the URL's basename, ``fetchTarball`` and
``fetchGit`` are recursive (NAR) sha256 ``source`` paths.

Tarballs (tar, gzip, bzip2, xz, zstd; zip) are unpacked safely: absolute
names, ``..`` components and writes through symlinks are refused.  As in Nix
(2.8 and still today, NixOS/nix#7083) a tarball must have exactly one
top-level entry, and the result is that entry.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import shutil
import socket
import stat
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from nixlite.errors import NixliteError
from nixlite.store.hashes import Hash, hash_stream, nixbase32_encode
from nixlite.store.local import remove_tree
from nixlite.store.nar import nar_hash
from nixlite.store.paths import check_name, make_fixed_output_path

TARBALL_TTL = 3600  # seconds a URL fetched without a hash is reused (Nix's tarball-ttl)


class FetchError(NixliteError):
    """A download, unpack or Git operation failed."""


def fetch(store, kind: str, **params):
    """Entry point used by ``EvalIO.fetch``: ``kind`` is ``url``, ``tarball`` or ``git``."""
    if kind == "url":
        return fetch_url(store, unpack=False, **params)
    if kind == "tarball":
        return fetch_url(store, unpack=True, **params)
    if kind == "git":
        return fetch_git(store, **params)
    raise FetchError(f"unsupported fetcher '{kind}'")


# --------------------------------------------------------------------------
# downloads


def _curl_like_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP error {exc.code}"
    if isinstance(reason, ConnectionRefusedError):
        return "Couldn't connect to server (7)"
    if isinstance(reason, socket.gaierror):
        return "Couldn't resolve host name (6)"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "Timeout was reached (28)"
    if isinstance(reason, FileNotFoundError):
        return "Couldn't read a file:// file (37)"
    return str(reason)


def download(url: str, dest: str) -> Hash:
    """Stream ``url`` into the new file ``dest``; returns the sha256 of its bytes."""
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "nixlite"})
        with urllib.request.urlopen(req, timeout=300) as resp, open(dest, "xb") as out:
            hash_stream(h, resp, out)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if os.path.exists(dest):
            os.unlink(dest)
        raise FetchError(f"unable to download '{url}': {_curl_like_reason(exc)}") from None
    return Hash("sha256", h.digest())


def _mismatch(url: str, expected: Hash, got: Hash) -> FetchError:
    return FetchError(
        f"hash mismatch in file downloaded from '{url}':\n"
        f"  specified: {expected.to_string('base32')}\n"
        f"  got:       {got.to_string('base32')}"
    )


def url_basename(url: str) -> str:
    """Nix's ``baseNameOf`` on the URL string (query included)."""
    u = url.rstrip("/")
    return u[u.rfind("/") + 1:]


def fetch_url(store, url: str, name: str | None = None, expected: Hash | None = None,
              unpack: bool = False) -> dict:
    """``builtins.fetchurl`` (flat) or ``builtins.fetchTarball`` (unpacked, recursive)."""
    if not name:
        name = "source" if unpack else url_basename(url)
    check_name(name)
    if expected is not None and expected.algo == "sha256":
        p = make_fixed_output_path(unpack, expected, name, sdir=store.store_dir)
        if store.is_valid(p):
            return {"path": p}
    key = f"{'tarball' if unpack else 'file'}\0{url}\0{name}"
    if expected is None:
        cached = store.local.cache_get(key, TARBALL_TTL)
        if cached is not None and store.is_valid(cached["path"]):
            return cached
    work = store.make_temp_dir()
    try:
        archive = os.path.join(work, "download")
        file_hash = download(url, archive)
        if unpack:
            tree = os.path.join(work, "unpacked")
            os.mkdir(tree)
            unpack_archive(archive, tree, url)
            top = single_top(tree, url)
            h, _ = nar_hash(top)
            prepared = top
        else:
            h = file_hash
            prepared = archive
        if expected is not None and h != expected:
            raise _mismatch(url, expected, h)
        path = make_fixed_output_path(unpack, h, name, sdir=store.store_dir)
        ca = f"fixed:{'r:' if unpack else ''}sha256:{nixbase32_encode(h.digest)}"
        store.add_prepared(prepared, path, ca=ca)
    finally:
        remove_tree(work)
    result = {"path": path}
    if expected is None:
        store.local.cache_put(key, result)
    return result


# --------------------------------------------------------------------------
# archives


def _open_decompressed(path: str):
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


def _safe_target(root: str, name: str, url: str) -> str | None:
    """The extraction path of archive member ``name``; refuses escapes."""
    if name.startswith("/"):
        raise FetchError(f"archive '{url}' contains an absolute path '{name}'")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FetchError(f"archive '{url}' contains a path with '..': '{name}'")
    if not parts:
        return None
    cur = root
    for part in parts[:-1]:
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            os.mkdir(cur)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise FetchError(f"archive '{url}' writes '{name}' through a non-directory")
    return os.path.join(cur, parts[-1])


def _replace(target: str) -> None:
    if os.path.lexists(target) and not os.path.isdir(target):
        os.unlink(target)


def unpack_archive(archive: str, dest: str, url: str = "") -> None:
    """Unpack a (compressed) tar or zip archive into the existing directory ``dest``."""
    if zipfile.is_zipfile(archive):
        _unpack_zip(archive, dest, url)
        return
    stream = _open_decompressed(archive)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for m in tf:
                target = _safe_target(dest, m.name, url)
                if target is None:
                    continue
                if m.isdir():
                    if not os.path.isdir(target):
                        _replace(target)
                        os.mkdir(target)
                elif m.isreg():
                    _replace(target)
                    src = tf.extractfile(m)
                    with open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    os.chmod(target, 0o755 if m.mode & 0o100 else 0o644)
                elif m.issym():
                    _replace(target)
                    os.symlink(m.linkname, target)
                elif m.islnk():
                    source = _safe_target(dest, m.linkname, url)
                    if source is None or not os.path.isfile(source) or os.path.islink(source):
                        raise FetchError(f"archive '{url}' has a bad hard link '{m.name}'")
                    _replace(target)
                    shutil.copy2(source, target)
                else:
                    raise FetchError(f"archive '{url}' contains '{m.name}', which is neither a "
                                     "file, a directory nor a symlink")
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as exc:
        if isinstance(exc, FetchError):
            raise
        raise FetchError(f"unpacking '{url}': {exc}") from None
    finally:
        stream.close()


def _unpack_zip(archive: str, dest: str, url: str) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = _safe_target(dest, info.filename, url)
            if target is None:
                continue
            mode = info.external_attr >> 16
            if info.is_dir():
                os.makedirs(target, exist_ok=True)
            elif stat.S_ISLNK(mode):
                _replace(target)
                os.symlink(zf.read(info).decode("utf-8", "surrogateescape"), target)
            else:
                _replace(target)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chmod(target, 0o755 if mode & 0o100 else 0o644)


def single_top(tree: str, url: str) -> str:
    """The one top-level entry of an unpacked tarball (Nix refuses any other count)."""
    entries = os.listdir(tree)
    if len(entries) != 1:
        raise FetchError(f"tarball '{url}' contains an unexpected number of top-level files")
    return os.path.join(tree, entries[0])


# --------------------------------------------------------------------------
# git


def _is_local(url: str) -> tuple[bool, str]:
    if url.startswith("file://"):
        return True, urllib.parse.unquote(url[len("file://"):])
    if "://" not in url and not (":" in url.split("/", 1)[0] and "@" in url):
        return True, url
    return False, url


def _git():
    import pygit2

    return pygit2


def _open_repo(store, url: str, want_rev: str | None = None, all_refs: bool = False):
    """``(repo, is_local, location, remote_head)``: the local repository itself, or a
    bare clone cached in the store root that is brought up to date from ``url``
    (skipped when the wanted revision is already there)."""
    pygit2 = _git()
    local, path = _is_local(url)
    if local:
        try:
            return pygit2.Repository(path), True, path, None
        except (pygit2.GitError, KeyError):
            raise FetchError(f"'{path}' is not a Git repository") from None
    cache = os.path.join(store.local.root, "git-cache", hashlib.sha256(url.encode()).hexdigest()[:32])
    try:
        if os.path.isdir(cache):
            repo = pygit2.Repository(cache)
        else:
            repo = pygit2.init_repository(cache, bare=True)
            repo.remotes.create("origin", url)
        if want_rev is not None and _has_commit(repo, want_rev):
            return repo, False, url, None
        remote = repo.remotes["origin"]
        specs = ["+refs/*:refs/*"] if all_refs else ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
        remote.fetch(specs)
        head = next((h.oid for h in remote.list_heads() if h.name == "HEAD"), None)
    except pygit2.GitError as exc:
        raise FetchError(f"cannot fetch Git repository '{url}': {exc}") from None
    return repo, False, url, head


def _has_commit(repo, rev: str) -> bool:
    try:
        repo[rev].peel(_git().Commit)
        return True
    except (KeyError, ValueError):
        return False


def _default_ref(repo) -> str:
    try:
        target = repo.references["HEAD"].target
    except KeyError:
        return "master"
    if isinstance(target, str) and target.startswith("refs/heads/"):
        return target[len("refs/heads/"):]
    return "HEAD"


def _fetch_ref(ref: str) -> str:
    if ref.startswith("refs/") or ref == "HEAD":
        return ref
    return "refs/heads/" + ref


def _resolve(repo, refname: str, url: str):
    try:
        ref = repo.references[refname].resolve()
    except (KeyError, ValueError):
        raise FetchError(f"cannot find Git reference '{refname}' in repository '{url}'") from None
    return repo[ref.target].peel(_git().Commit)


def _is_dirty(repo) -> bool:
    pygit2 = _git()
    ignore = pygit2.GIT_STATUS_WT_NEW | pygit2.GIT_STATUS_IGNORED
    return any(flags & ~ignore for flags in repo.status().values())


def _parse_gitmodules(text: str) -> dict[str, str]:
    """path → url from a ``.gitmodules`` file."""
    out: dict[str, str] = {}
    section: dict[str, str] = {}

    def flush():
        if "path" in section and "url" in section:
            out[section["path"]] = section["url"]

    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            flush()
            section = {}
        elif "=" in line and not line.startswith(("#", ";")):
            k, _, v = line.partition("=")
            section[k.strip()] = v.strip()
    flush()
    return out


def _export_tree(repo, tree, dest: str, submodules: bool, repo_url: str, store,
                 ignored=None, rel: str = "") -> None:
    """Write ``tree`` into ``dest`` (which exists) as Nix 2.8 does: ``git archive``
    (``export-ignore`` honoured), or a checkout with submodules when they are wanted."""
    pygit2 = _git()
    for entry in tree:
        path = rel + entry.name
        if ignored is not None and ignored(path):
            continue
        target = os.path.join(dest, entry.name)
        mode = entry.filemode
        if mode == pygit2.GIT_FILEMODE_TREE:
            os.mkdir(target)
            _export_tree(repo, repo[entry.id], target, submodules, repo_url, store, ignored, path + "/")
        elif mode == pygit2.GIT_FILEMODE_LINK:
            os.symlink(repo[entry.id].data.decode("utf-8", "surrogateescape"), target)
        elif mode == pygit2.GIT_FILEMODE_COMMIT:
            os.mkdir(target)  # a submodule: empty unless submodules are wanted
        else:
            with open(target, "wb") as f:
                f.write(repo[entry.id].data)
            if mode == pygit2.GIT_FILEMODE_BLOB_EXECUTABLE:
                os.chmod(target, 0o755)
    if submodules and rel == "":
        _export_submodules(repo, tree, dest, repo_url, store)


def _has_gitattributes(repo, tree) -> bool:
    pygit2 = _git()
    for entry in tree:
        if entry.name == ".gitattributes":
            return True
        if entry.filemode == pygit2.GIT_FILEMODE_TREE and _has_gitattributes(repo, repo[entry.id]):
            return True
    return False


def _export_ignore(repo, commit):
    """``path -> bool`` for git archive's ``export-ignore`` attribute at ``commit``."""
    pygit2 = _git()
    if not _has_gitattributes(repo, commit.tree):
        return None
    flags = pygit2.enums.AttrCheck.INDEX_ONLY | pygit2.enums.AttrCheck.INCLUDE_COMMIT
    return lambda path: repo.get_attr(path, "export-ignore", flags, commit.id) is True


def _export_submodules(repo, root_tree, dest: str, repo_url: str, store) -> None:
    pygit2 = _git()
    try:
        gm = root_tree[".gitmodules"]
    except KeyError:
        return
    modules = _parse_gitmodules(repo[gm.id].data.decode("utf-8", "replace"))
    for path, sub_url in sorted(modules.items()):
        try:
            entry = root_tree[path]
        except KeyError:
            continue
        if entry.filemode != pygit2.GIT_FILEMODE_COMMIT:
            continue
        if sub_url.startswith(("./", "../")):
            local, base = _is_local(repo_url)
            sub_url = os.path.normpath(os.path.join(base, sub_url)) if local else \
                urllib.parse.urljoin(repo_url.rstrip("/") + "/", sub_url)
        sub_repo, _, _, _ = _open_repo(store, sub_url, str(entry.id))
        try:
            commit = sub_repo[entry.id].peel(pygit2.Commit)
        except KeyError:
            raise FetchError(f"submodule '{path}' commit {entry.id} not found in '{sub_url}'") from None
        _export_tree(sub_repo, commit.tree, os.path.join(dest, path), True, sub_url, store)


def _rev_count(repo, commit) -> int:
    pygit2 = _git()
    return sum(1 for _ in repo.walk(commit.id, pygit2.enums.SortMode.NONE))


def fetch_git(store, url: str, ref: str | None = None, rev: str | None = None,
              name: str = "source", submodules: bool = False, shallow: bool = False,
              all_refs: bool = False, nar_hash_expected: Hash | None = None, warn=None) -> dict:
    """``builtins.fetchGit``: returns path, rev, revCount, lastModified, narHash (SRI)."""
    check_name(name)
    repo, local, location, remote_head = _open_repo(store, url, rev, all_refs)
    if local and ref is None and rev is None and not repo.is_bare:
        has_commits = not repo.head_is_unborn
        if not has_commits or _is_dirty(repo):
            if warn is not None:
                warn(f"warning: Git tree '{location}' is dirty")
            return _fetch_dirty(store, repo, location, name, has_commits, nar_hash_expected)
    if ref is None:
        # today's Nix follows the remote's HEAD; Nix 2.8 assumed "master" for remotes
        ref = _default_ref(repo) if local else "HEAD"
    if rev and (all_refs or not local):
        tip = None  # a remote's cache holds only what was fetched: presence is the check
    elif not local and ref == "HEAD":
        if remote_head is None:
            remote_head = _open_repo(store, url)[3]
        if remote_head is None:
            raise FetchError(f"cannot find the HEAD of Git repository '{url}'")
        tip = repo[remote_head].peel(_git().Commit)
    else:
        tip = _resolve(repo, _fetch_ref(ref), url)
    if rev is not None:
        try:
            commit = repo[rev].peel(_git().Commit)
        except (KeyError, ValueError):
            commit = None
        if commit is None or (tip is not None and commit.id != tip.id
                              and not repo.descendant_of(tip.id, commit.id)):
            raise FetchError(
                f"Cannot find Git revision '{rev}' in ref '{ref}' of repository '{url}'! Please "
                "make sure that the rev exists on the ref you've specified or add allRefs = "
                "true; to fetchGit.")
    else:
        commit = tip
    rev_hex = str(commit.id)
    key = f"git\0{rev_hex}\0{int(submodules)}\0{name}"
    cached = store.local.cache_get(key)
    if cached is not None and store.is_valid(cached["path"]):
        path = cached["path"]
        h = Hash("sha256", bytes.fromhex(cached["narHash"]))
    else:
        work = store.make_temp_dir()
        try:
            tree_dir = os.path.join(work, "tree")
            os.mkdir(tree_dir)
            # with submodules Nix 2.8 checks out (attributes unused); otherwise git archive
            ignored = None if submodules else _export_ignore(repo, commit)
            _export_tree(repo, commit.tree, tree_dir, submodules, location if local else url, store,
                         ignored)
            h, _ = nar_hash(tree_dir)
            _check_nar_hash(url, nar_hash_expected, h)
            path = make_fixed_output_path(True, h, name, sdir=store.store_dir)
            store.add_prepared(tree_dir, path, ca=f"fixed:r:sha256:{h.base32()}")
        finally:
            remove_tree(work)
        store.local.cache_put(key, {"path": path, "narHash": h.hex()})
    _check_nar_hash(url, nar_hash_expected, h)
    return {
        "path": path,
        "rev": rev_hex,
        "revCount": None if shallow else _rev_count(repo, commit),
        "lastModified": commit.commit_time,
        "narHash": h.sri(),
    }


def _check_nar_hash(url: str, expected: Hash | None, got: Hash) -> None:
    if expected is not None and expected != got:
        raise FetchError(f"NAR hash mismatch in input '{url}', expected '{expected.sri()}', "
                         f"got '{got.sri()}'")


def _fetch_dirty(store, repo, location: str, name: str, has_commits: bool,
                 expected: Hash | None) -> dict:
    """A local repository with uncommitted changes: its tracked files as they are on disk."""
    files = {e.path for e in repo.index}
    dirs = set()
    for f in files:
        parts = f.split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    root = os.path.abspath(location).rstrip("/")
    n = len(root) + 1

    def keep(p: str, kind: str) -> bool:
        rel = p[n:]
        return rel in dirs if kind == "directory" else rel in files

    path, h = store.local.add_path(root, name, True, keep)
    _check_nar_hash(location, expected, h)
    last = repo.head.peel(_git().Commit).commit_time if has_commits else 0
    return {"path": path, "rev": None, "revCount": None, "lastModified": last, "narHash": h.sri()}


def format_last_modified(t: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))

"""fetchurl / fetchTarball from an HTTP server on 127.0.0.1, and fetchGit on repositories
made here with pygit2; results compared with Nix 2.8's builtins on the same inputs."""
import bz2
import functools
import gzip
import http.server
import io
import json
import lzma
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import zipfile

import pygit2
import pytest
import zstandard

from nixlite.errors import NixliteError
from nixlite.eval.api import evaluate_string
from nixlite.eval.values import Attrs, CStr, force
from nixlite.store.hashes import hash_bytes
from nixlite.store.paths import make_fixed_output_path

NIX = shutil.which("nix-instantiate")
needs_nix = pytest.mark.skipif(NIX is None, reason="nix-instantiate not installed")


def to_json(v):
    v = force(v)
    if type(v) is Attrs:
        if "outPath" in v:
            return to_json(v["outPath"])
        return {k: to_json(v[k]) for k in sorted(v)}
    if type(v) is list:
        return [to_json(x) for x in v]
    if type(v) is CStr:
        return str.__str__(v)
    return v


def ours(expr):
    return to_json(evaluate_string(expr, strict=True))


def nix_eval(expr, **env):
    """Nix 2.8's value of expr as JSON (attrs printed in full, not as outPath)."""
    wrapped = f"let v = ({expr}); in if builtins.isAttrs v then removeAttrs v [ \"outPath\" ] // {{ path = v.outPath; }} else v"
    r = subprocess.run([NIX, "--eval", "--strict", "--json", "--read-write-mode", "--expr", wrapped],
                       capture_output=True, text=True, env=dict(os.environ, **env))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def ours_full(expr):
    v = force(evaluate_string(expr, strict=True))
    if type(v) is Attrs:
        d = {k: to_json(v[k]) for k in sorted(v) if k != "outPath"}
        d["path"] = to_json(v["outPath"])
        return d
    return to_json(v)


# ---------------------------------------------------------------- HTTP server

REQUESTS: list[str] = []  # paths the test server was asked for


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A directory served over HTTP on 127.0.0.1, with archives of one small tree."""
    root = tmp_path_factory.mktemp("www")
    tree = root / "src" / "pkg-1.0"
    (tree / "bin").mkdir(parents=True)
    (tree / "README").write_text("hello tarball\n")
    (tree / "bin" / "run").write_text("#!/bin/sh\necho run\n")
    os.chmod(tree / "bin" / "run", 0o755)
    os.symlink("../README", tree / "bin" / "readme-link")
    (root / "file.txt").write_bytes(b"hello\n")

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(tree, arcname="pkg-1.0")
    raw = buf.getvalue()
    (root / "pkg.tar").write_bytes(raw)
    (root / "pkg.tar.gz").write_bytes(gzip.compress(raw))
    (root / "pkg.tar.bz2").write_bytes(bz2.compress(raw))
    (root / "pkg.tar.xz").write_bytes(lzma.compress(raw))
    (root / "pkg.tar.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    with zipfile.ZipFile(root / "pkg.zip", "w") as zf:
        for dirpath, dirnames, filenames in sorted(os.walk(tree)):
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                arc = os.path.join("pkg-1.0", os.path.relpath(full, tree))
                info = zipfile.ZipInfo(arc)
                st = os.lstat(full)
                info.external_attr = st.st_mode << 16
                data = os.readlink(full).encode() if os.path.islink(full) else open(full, "rb").read()
                zf.writestr(info, data)
    hb = io.BytesIO()
    with tarfile.open(fileobj=hb, mode="w:gz") as tf:
        info = tarfile.TarInfo("top/original")
        info.size = 4
        info.mode = 0o755
        tf.addfile(info, io.BytesIO(b"data"))
        link = tarfile.TarInfo("top/hardlink")
        link.type = tarfile.LNKTYPE
        link.linkname = "top/original"
        tf.addfile(link)
    (root / "hardlink.tar.gz").write_bytes(hb.getvalue())

    def evil(members):
        b = io.BytesIO()
        with tarfile.open(fileobj=b, mode="w:gz") as tf:
            for name, kind, data in members:
                info = tarfile.TarInfo(name)
                if kind == "sym":
                    info.type = tarfile.SYMTYPE
                    info.linkname = data
                    tf.addfile(info)
                else:
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        return b.getvalue()

    (root / "two-tops.tar.gz").write_bytes(evil([("a/x", "file", b"x"), ("b", "file", b"y")]))
    (root / "dotdot.tar.gz").write_bytes(evil([("top/../../escape", "file", b"x")]))
    (root / "absolute.tar.gz").write_bytes(evil([("/tmp/abs-escape", "file", b"x")]))
    (root / "symlink-escape.tar.gz").write_bytes(
        evil([("top/link", "sym", "/tmp"), ("top/link/written-through", "file", b"x")]))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            REQUESTS.append(self.path)
            super().do_GET()

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetchurl(served, store):
    p = ours(f'builtins.fetchurl "{served}/file.txt"')
    # unpinned: named after the URL, flat sha256 of the bytes (the same rule as a flat FOD)
    assert p == make_fixed_output_path(False, hash_bytes("sha256", b"hello\n"), "file.txt")
    pinned = ours(f'builtins.fetchurl {{ url = "{served}/file.txt"; name = "hello.txt"; '
                  'sha256 = "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="; }')
    assert pinned == "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt"
    assert open(store.physical(pinned), "rb").read() == b"hello\n"
    assert store.verify() == []


def test_fetchurl_wrong_hash_stores_nothing(served, store):
    before = store.all_valid_paths()
    with pytest.raises(NixliteError) as info:
        ours(f'builtins.fetchurl {{ url = "{served}/file.txt"; sha256 = "{"0" * 52}"; }}')
    msg = info.value.message
    assert f"hash mismatch in file downloaded from '{served}/file.txt'" in msg
    assert "specified: sha256:" + "0" * 52 in msg
    assert "got:       sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq" in msg
    assert store.all_valid_paths() == before
    assert os.listdir(store.tmp_dir) == []


def test_unreachable_and_missing_urls(served, store):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(NixliteError, match=r"unable to download 'http://127.0.0.1:\d+/x': Couldn't connect"):
        ours(f'builtins.fetchurl "http://127.0.0.1:{port}/x"')
    with pytest.raises(NixliteError, match="HTTP error 404"):
        ours(f'builtins.fetchTarball "{served}/nope.tar.gz"')


@pytest.mark.parametrize("ext", ["tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst"])
def test_fetch_tarball_formats_agree(served, store, ext):
    p = ours(f'builtins.fetchTarball "{served}/pkg.{ext}"')
    assert p.endswith("-source")
    real = store.physical(p)
    assert sorted(os.listdir(real)) == ["README", "bin"]  # the single top-level dir is stripped
    assert os.readlink(os.path.join(real, "bin", "readme-link")) == "../README"
    assert os.stat(os.path.join(real, "bin", "run")).st_mode & 0o100
    gz = ours(f'builtins.fetchTarball "{served}/pkg.tar.gz"')
    assert p == gz


@needs_nix
@pytest.mark.parametrize("archive", ["pkg.zip", "hardlink.tar.gz", "pkg.tar.zst"])
def test_fetch_tarball_other_archives_match_nix(served, store, archive):
    expr = f'builtins.fetchTarball "{served}/{archive}"'
    assert ours(expr) == nix_eval(expr)


@needs_nix
def test_fetch_tarball_matches_nix(served, store):
    expr = f'builtins.fetchTarball {{ url = "{served}/pkg.tar.gz"; name = "pkg"; }}'
    theirs = nix_eval(expr)
    assert ours(expr) == theirs
    h = store.query_path_info(theirs).nar_hash.base32()
    pinned = f'builtins.fetchTarball {{ url = "{served}/pkg.tar.xz"; sha256 = "{h}"; }}'
    assert ours(pinned) == nix_eval(pinned)


def test_unpinned_fetches_are_cached(served, store):
    before = REQUESTS.count("/pkg.tar.bz2")
    first = ours(f'builtins.fetchTarball "{served}/pkg.tar.bz2"')
    again = ours(f'builtins.fetchTarball "{served}/pkg.tar.bz2"')
    assert first == again and REQUESTS.count("/pkg.tar.bz2") == before + 1


def test_pinned_fetch_skips_download_when_valid(served, store):
    expr = (f'builtins.fetchurl {{ url = "{served}/file.txt"; name = "pinned.txt"; '
            'sha256 = "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq"; }')
    ours(expr)
    before = len(REQUESTS)
    ours(expr)
    assert len(REQUESTS) == before


@needs_nix
def test_fetchurl_file_url_matches_nix(served, store, tmp_path):
    f = tmp_path / "local.bin"
    f.write_bytes(bytes(range(256)) * 100)
    expr = f'builtins.fetchurl "file://{f}"'
    assert ours(expr) == nix_eval(expr)


def test_fetch_tarball_wrong_hash(served, store):
    with pytest.raises(NixliteError, match="hash mismatch in file downloaded from"):
        ours(f'builtins.fetchTarball {{ url = "{served}/pkg.tar.gz"; sha256 = "{"1" * 52}"; }}')
    assert [p for p in store.all_valid_paths() if p.endswith("-source")] == []


@needs_nix
def test_tarball_with_two_top_level_entries_is_refused_like_nix(served, store):
    url = f"{served}/two-tops.tar.gz"
    with pytest.raises(NixliteError) as info:
        ours(f'builtins.fetchTarball "{url}"')
    assert info.value.message == f"tarball '{url}' contains an unexpected number of top-level files"
    r = subprocess.run([NIX, "--eval", "--expr", f'builtins.fetchTarball "{url}"'],
                       capture_output=True, text=True)
    assert info.value.message in r.stderr


@pytest.mark.parametrize("name, message", [
    ("dotdot", "contains a path with '..'"),
    ("absolute", "contains an absolute path"),
    ("symlink-escape", "through a non-directory"),
])
def test_unsafe_tarballs_are_refused(served, store, name, message):
    with pytest.raises(NixliteError, match=message):
        ours(f'builtins.fetchTarball "{served}/{name}.tar.gz"')
    assert not os.path.exists("/tmp/abs-escape") and not os.path.exists("/tmp/written-through")


# ---------------------------------------------------------------- git


def _sig(t):
    return pygit2.Signature("Tester", "tester@example.com", t, 0)


def _commit(repo, files, message, t, ref="HEAD", parents=None, gitlinks=()):
    index = pygit2.Index()
    for path, (data, mode) in sorted(files.items()):
        oid = repo.create_blob(data)
        index.add(pygit2.IndexEntry(path, oid, mode))
    for path, commit_id in gitlinks:
        index.add(pygit2.IndexEntry(path, commit_id, pygit2.GIT_FILEMODE_COMMIT))
    tree = index.write_tree(repo)
    if parents is None:
        parents = [] if repo.head_is_unborn else [repo.head.target]
    return repo.create_commit(ref, _sig(t), _sig(t), message, tree, parents)


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    base = tmp_path_factory.mktemp("git")
    sub_path = str(base / "subrepo")
    sub = pygit2.init_repository(sub_path, initial_head="main")
    sub_commit = _commit(sub, {"lib.txt": (b"library\n", pygit2.GIT_FILEMODE_BLOB)}, "sub", 1600000000)

    path = str(base / "repo")
    repo = pygit2.init_repository(path, initial_head="main")
    files = {"README": (b"v1\n", pygit2.GIT_FILEMODE_BLOB),
             "bin/tool": (b"#!/bin/sh\n", pygit2.GIT_FILEMODE_BLOB_EXECUTABLE),
             "link": (b"README", pygit2.GIT_FILEMODE_LINK)}
    c1 = _commit(repo, files, "first", 1600000100)
    repo.create_reference("refs/tags/v1", c1)
    files["README"] = (b"v2\n", pygit2.GIT_FILEMODE_BLOB)
    files[".gitmodules"] = (f'[submodule "sub"]\n\tpath = sub\n\turl = {sub_path}\n'.encode(),
                            pygit2.GIT_FILEMODE_BLOB)
    c2 = _commit(repo, files, "second", 1600000200, gitlinks=[("sub", sub_commit)])
    feature_files = dict(files, **{"feature.txt": (b"feature\n", pygit2.GIT_FILEMODE_BLOB)})
    c3 = _commit(repo, feature_files, "feature", 1600000300, ref="refs/heads/feature", parents=[c2],
                 gitlinks=[("sub", sub_commit)])
    # a working tree that matches HEAD (clean)
    repo.checkout_head(strategy=pygit2.GIT_CHECKOUT_FORCE)
    return {"path": path, "c1": str(c1), "c2": str(c2), "c3": str(c3), "sub": sub_path}


GIT_ENV = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.file.allow",
           "GIT_CONFIG_VALUE_0": "always"}


def git_cases(r):
    p = r["path"]
    return {
        "default": f'builtins.fetchGit {p}',
        "url-string": f'builtins.fetchGit "file://{p}"',
        "ref": f'builtins.fetchGit {{ url = {p}; ref = "feature"; }}',
        "tag": f'builtins.fetchGit {{ url = {p}; ref = "refs/tags/v1"; }}',
        "old-rev": f'builtins.fetchGit {{ url = {p}; rev = "{r["c1"]}"; }}',
        "rev-on-branch": f'builtins.fetchGit {{ url = {p}; ref = "feature"; rev = "{r["c3"]}"; }}',
        "all-refs": f'builtins.fetchGit {{ url = {p}; rev = "{r["c3"]}"; allRefs = true; }}',
        "named": f'builtins.fetchGit {{ url = {p}; name = "my-src"; }}',
        "shallow": f'builtins.fetchGit {{ url = {p}; shallow = true; }}',
        "submodules": f'builtins.fetchGit {{ url = {p}; submodules = true; }}',
    }


CASE_NAMES = ["default", "url-string", "ref", "tag", "old-rev", "rev-on-branch", "all-refs",
              "named", "shallow", "submodules"]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_fetch_git_shapes(repos, store, case):
    r = ours_full(git_cases(repos)[case])
    assert set(r) == {"lastModified", "lastModifiedDate", "narHash", "path", "rev", "revCount",
                      "shortRev", "submodules"}
    assert r["shortRev"] == r["rev"][:7]
    real = store.physical(r["path"])
    assert not os.path.exists(os.path.join(real, ".git"))
    if case == "submodules":
        assert open(os.path.join(real, "sub", "lib.txt")).read() == "library\n"
    elif case in ("default", "ref"):
        assert os.listdir(os.path.join(real, "sub")) == []
    if case == "old-rev":
        assert r["rev"] == repos["c1"] and r["revCount"] == 1 and r["lastModified"] == 1600000100
        assert r["lastModifiedDate"] == "20200913122820"
    if case == "ref":
        assert r["rev"] == repos["c3"] and r["revCount"] == 3
    if case == "shallow":
        assert r["revCount"] == 0


@needs_nix
@pytest.mark.nix
@pytest.mark.parametrize("case", CASE_NAMES)
def test_fetch_git_matches_nix(repos, store, case):
    expr = git_cases(repos)[case]
    assert ours_full(expr) == nix_eval(expr, **GIT_ENV)


def test_fetch_git_errors(repos, store):
    p = repos["path"]
    with pytest.raises(NixliteError, match="Cannot find Git revision"):
        ours(f'builtins.fetchGit {{ url = {p}; ref = "main"; rev = "{repos["c3"]}"; }}')
    with pytest.raises(NixliteError, match="invalid Git revision"):
        ours(f'builtins.fetchGit {{ url = {p}; rev = "abc"; }}')
    with pytest.raises(NixliteError, match="unsupported Git input attribute 'bogus'"):
        ours(f'builtins.fetchGit {{ url = {p}; bogus = 1; }}')
    with pytest.raises(NixliteError, match="NAR hash mismatch"):
        ours(f'builtins.fetchGit {{ url = {p}; narHash = "sha256-{"A" * 43}="; }}')
    with pytest.raises(NixliteError, match="is not a Git repository"):
        ours(f'builtins.fetchGit {repos["sub"]}/nonexistent')


@pytest.fixture(scope="module")
def attr_repo(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("attrs") / "repo")
    repo = pygit2.init_repository(path, initial_head="main")
    blob = pygit2.GIT_FILEMODE_BLOB
    _commit(repo, {".gitattributes": (b"secret.txt export-ignore\ndocs export-ignore\n*.tmp export-ignore\n", blob),
                   "secret.txt": (b"s\n", blob), "keep.txt": (b"k\n", blob),
                   "docs/a.md": (b"a\n", blob), "sub/x.tmp": (b"x\n", blob), "sub/y.txt": (b"y\n", blob),
                   "sub/.gitattributes": (b"y.txt export-ignore\n", blob)}, "attrs", 1610000000)
    repo.checkout_head(strategy=pygit2.GIT_CHECKOUT_FORCE)
    return path


def test_fetch_git_honours_export_ignore(attr_repo, store):
    r = ours_full(f"builtins.fetchGit {attr_repo}")
    real = store.physical(r["path"])
    assert sorted(os.listdir(real)) == [".gitattributes", "keep.txt", "sub"]
    assert os.listdir(os.path.join(real, "sub")) == [".gitattributes"]
    with_subs = ours_full(f"builtins.fetchGit {{ url = {attr_repo}; submodules = true; }}")
    assert "secret.txt" in os.listdir(store.physical(with_subs["path"]))  # a checkout, not an archive


@needs_nix
@pytest.mark.nix
@pytest.mark.parametrize("submodules", ["false", "true"])
def test_fetch_git_export_ignore_matches_nix(attr_repo, store, submodules):
    expr = f"builtins.fetchGit {{ url = {attr_repo}; submodules = {submodules}; }}"
    assert ours_full(expr) == nix_eval(expr, **GIT_ENV)


@needs_nix
@pytest.mark.nix
def test_fetch_git_dirty_tree_matches_nix(repos, store, tmp_path):
    dirty = str(tmp_path / "dirty")
    shutil.copytree(repos["path"], dirty, symlinks=True)
    with open(os.path.join(dirty, "README"), "w") as f:
        f.write("changed but not committed\n")
    with open(os.path.join(dirty, "untracked.txt"), "w") as f:
        f.write("not in git\n")
    expr = f"builtins.fetchGit {dirty}"
    mine = ours_full(expr)
    assert mine["rev"] == "0" * 40 and mine["revCount"] == 0
    assert mine == nix_eval(expr, **GIT_ENV)


@pytest.fixture(scope="module")
def git_daemon(tmp_path_factory):
    """`git daemon` on 127.0.0.1 serving a repository whose default branch is master
    (Nix 2.8 assumes master for remotes without a ref; today's Nix follows HEAD)."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not installed")
    base = tmp_path_factory.mktemp("daemon")
    repo = pygit2.init_repository(str(base / "served.git"), bare=True, initial_head="master")
    c1 = _commit(repo, {"a.txt": (b"one\n", pygit2.GIT_FILEMODE_BLOB)}, "one", 1650000000)
    c2 = _commit(repo, {"a.txt": (b"two\n", pygit2.GIT_FILEMODE_BLOB),
                        "x": (b"#!/bin/sh\n", pygit2.GIT_FILEMODE_BLOB_EXECUTABLE)}, "two", 1650000100)
    repo.create_reference("refs/heads/other", c1)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([git, "daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1",
                             f"--port={port}", f"--base-path={base}", str(base)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):  # wait until it accepts connections (not a timing assumption)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            proc.poll()
            if proc.returncode is not None:
                pytest.skip("git daemon did not start")
            threading.Event().wait(0.02)
    yield {"url": f"git://127.0.0.1:{port}/served.git", "c1": str(c1), "c2": str(c2)}
    proc.terminate()
    proc.wait()


@pytest.mark.parametrize("case", ["default", "ref", "rev"])
def test_fetch_git_remote(git_daemon, store, case):
    u = git_daemon["url"]
    expr = {"default": f'builtins.fetchGit "{u}"',
            "ref": f'builtins.fetchGit {{ url = "{u}"; ref = "other"; }}',
            "rev": f'builtins.fetchGit {{ url = "{u}"; rev = "{git_daemon["c1"]}"; }}'}[case]
    mine = ours_full(expr)
    assert mine["rev"] == (git_daemon["c2"] if case == "default" else git_daemon["c1"])
    assert ours_full(expr) == mine  # second time from the cache
    if NIX is not None:
        assert mine == nix_eval(expr)

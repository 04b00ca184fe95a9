"""Layer tars are byte-identical to the tools upstream runs: GNU tar 1.34 with the seed's
flags, and Python's tarfile driven as upstream's stream script drives it."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile

import pytest

from nixlite.errors import NixliteError
from nixlite.image.tarwriter import PaxTarWriter, gnu_tree_chunks, store_layer_chunks

from image_upstream_reference import reference_store_layer

SDE = 315532800


def gnu_tar(root: str, *flags: str) -> bytes:
    return subprocess.run(
        ["tar", "-C", root, "--sort=name", f"--mtime=@{SDE}", "--hard-dereference", *flags,
         "-cf", "-", "."], check=True, capture_output=True).stdout


def ours(chunks) -> bytes:
    return b"".join(chunks)


def test_gnu_numeric_owner_matches_tar(tree):
    # the customisation layer: --numeric-owner, owners from the files
    assert ours(gnu_tree_chunks(tree, mtime=SDE, numeric_owner=True)) == gnu_tar(tree, "--numeric-owner")


def test_gnu_owner_override_with_names_matches_tar(tree):
    # buildImage's mkPureLayer: --owner=0 --group=0, names resolved (uid 0 -> root)
    expected = gnu_tar(tree, "--owner=0", "--group=0")
    assert ours(gnu_tree_chunks(tree, mtime=SDE, uid=0, gid=0)) == expected
    assert ours(gnu_tree_chunks(tree, mtime=SDE, uid=0, gid=0, uname="root", gname="root")) == expected


def test_gnu_other_owner_and_numeric(tree):
    expected = gnu_tar(tree, "--owner=1234", "--group=5678", "--numeric-owner")
    assert ours(gnu_tree_chunks(tree, mtime=SDE, uid=1234, gid=5678, numeric_owner=True)) == expected


def test_gnu_owners_from_stat(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    root = tmp_path / "t"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f").write_text("x")
    os.chown(root / "sub" / "f", 1000, 100)
    os.chown(root / "sub", 65534, 65534)
    assert ours(gnu_tree_chunks(str(root), mtime=7, numeric_owner=True)) == subprocess.run(
        ["tar", "-C", str(root), "--sort=name", "--mtime=@7", "--hard-dereference",
         "--numeric-owner", "-cf", "-", "."], check=True, capture_output=True).stdout


def test_gnu_devices_and_exclusions(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    root = tmp_path / "t"
    (root / "dev").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.mknod(root / ".wh.gone", 0o600 | 0o020000, os.makedev(0, 0))
    os.mknod(root / "etc" / "blk", 0o640 | 0o060000, os.makedev(8, 1))
    expected = subprocess.run(
        ["tar", "-C", str(root), "--sort=name", f"--mtime=@{SDE}", "--hard-dereference",
         "--numeric-owner", "--exclude=./dev", "-cf", "-", "."],
        check=True, capture_output=True).stdout
    assert ours(gnu_tree_chunks(str(root), mtime=SDE, numeric_owner=True, exclude=["./dev"])) == expected


def test_gnu_missing_root_is_an_error(tmp_path):
    with pytest.raises(NixliteError, match="cannot archive"):
        ours(gnu_tree_chunks(str(tmp_path / "nope"), mtime=0))


# --- the stream script's dialect -------------------------------------------------------------

@pytest.fixture(scope="module")
def store(tree, tmp_path_factory):
    store_dir = str(tmp_path_factory.mktemp("s") / "nix" / "store")
    os.makedirs(store_dir)
    hello = os.path.join(store_dir, "1b9p07z77phvv2hf6gm9f28syp39f1ag-hello-2.10")
    subprocess.run(["cp", "-a", tree, hello], check=True)
    # a second name for a file (store optimisation) and a store path that is a symlink
    os.link(os.path.join(hello, "big"), os.path.join(hello, "bin", "big-again"))
    linked = os.path.join(store_dir, "0c0z6g7ni7ib7mxqk8q3smscy8a5iw7r-link")
    os.symlink(hello, linked)
    single = os.path.join(store_dir, "7gx4kiv5m0i7d7qkixq2cwzbr10lvxwc-file")
    with open(single, "w") as f:
        f.write("a single-file store path\n")
    os.chmod(single, 0o444)
    yield store_dir, [hello, single, linked]
    for dirpath, dirnames, _ in os.walk(store_dir):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)


def test_store_layer_matches_tarfile_reference(store):
    store_dir, paths = store
    mtime = 1606215562
    expected = reference_store_layer(paths, mtime)
    got = ours(store_layer_chunks(paths, mtime=mtime, store_dir=store_dir))
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(expected).hexdigest()
    assert got == expected


def test_store_layer_with_todays_options(store):
    # today's upstream: /nix dirs 0755, owner from conf, big ids and non-ASCII names go to pax
    store_dir, paths = store
    kwargs = dict(uid=3000000, gid=2097152, uname="b" * 40, gname="gröup")
    expected = reference_store_layer(paths[:2], 1, nix_mode=0o755, **kwargs)
    got = ours(store_layer_chunks(paths[:2], mtime=1, nix_dir_mode=0o755, store_dir=store_dir,
                                  **kwargs))
    assert got == expected


def test_store_layer_rejects_paths_outside_the_store(tmp_path):
    with pytest.raises(NixliteError, match="not in the Nix store"):
        ours(store_layer_chunks([str(tmp_path)], mtime=1))


def test_pax_writer_matches_tarfile():
    members = [("abc/layer.tar", os.urandom(3000)), ("cfg.json", b"{}"), ("manifest.json", b"[]"),
               ("é" * 60 + ".json", b"x" * 512)]
    ref = io.BytesIO()
    with tarfile.open(fileobj=ref, mode="w|") as tar:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1606215562
            tar.addfile(ti, io.BytesIO(data))
    writer = PaxTarWriter()
    chunks = []
    for name, data in members:
        chunks.extend(writer.add(name, len(data), [data[:100], data[100:]], mtime=1606215562))
    chunks.append(writer.end())
    assert b"".join(chunks) == ref.getvalue()


def test_pax_writer_checks_declared_size():
    writer = PaxTarWriter()
    with pytest.raises(NixliteError, match="declared"):
        list(writer.add("x", 5, [b"abc"]))


# --- fuzzing the pax header against tarfile's own -------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from nixlite.image.tarwriter import DIRTYPE, REGTYPE, SYMTYPE, pax_header  # noqa: E402

names = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
                min_size=1, max_size=130) | st.binary(min_size=1, max_size=120).filter(
    lambda b: b"\0" not in b).map(lambda b: b.decode("utf-8", "surrogateescape"))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(name=names, linkname=names, uname=st.text(max_size=40).filter(lambda s: "\0" not in s),
       gname=st.text(max_size=40).filter(lambda s: "\0" not in s),
       uid=st.integers(0, 2**40), gid=st.integers(0, 2**22), size=st.integers(0, 2**40),
       mtime=st.integers(0, 2**40), mode=st.integers(0, 0o177777),
       kind=st.sampled_from([REGTYPE, DIRTYPE, SYMTYPE]))
def test_pax_header_equals_tarfile(name, linkname, uname, gname, uid, gid, size, mtime, mode, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, mtime
    info.uname, info.gname = uname, gname
    info.size = size if kind == REGTYPE else 0
    if kind == SYMTYPE:
        info.linkname = linkname
    expected = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    final_name = name + "/" if kind == DIRTYPE and not name.endswith("/") else name
    ours = pax_header(final_name, mode=mode, uid=uid, gid=gid, size=info.size, mtime=mtime,
                      typeflag=kind, linkname=info.linkname, uname=uname, gname=gname)
    assert ours == expected


segment = st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
                  min_size=1, max_size=60).filter(lambda s: s not in (".", ".."))


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(spec=st.lists(st.tuples(st.lists(segment, min_size=1, max_size=3),
                               st.sampled_from(["file", "dir", "link"]),
                               st.integers(0, 3000)), min_size=1, max_size=12))
def test_random_trees_match_gnu_tar(tmp_path_factory, spec):
    root = tmp_path_factory.mktemp("rand")
    for parts, kind, size in spec:
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                continue
            if kind == "file":
                path.write_bytes(os.urandom(size))
                path.chmod(0o600 | (size % 0o200))
            elif kind == "dir":
                path.mkdir()
            else:
                path.symlink_to("../" + "t" * (size % 150 + 1))
        except (OSError, ValueError):
            continue  # a name too long for the file system, or a file where a directory goes
    assert ours(gnu_tree_chunks(str(root), mtime=SDE, numeric_owner=True)) == \
        gnu_tar(str(root), "--numeric-owner")


def test_todays_upstream_keeps_a_symlinked_store_path_as_a_link(store):
    store_dir, paths = store
    linked = paths[2]
    data = ours(store_layer_chunks([linked], mtime=1, store_dir=store_dir, nix_dir_mode=0o755,
                                   walk_symlinked_roots=False))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [(m.name, m.type, m.mode) for m in members] == [
        ("/nix", tarfile.DIRTYPE, 0o755), ("/nix/store", tarfile.DIRTYPE, 0o755),
        ("/" + linked.lstrip("/"), tarfile.SYMTYPE, 0o777)]
    # the seed walks through it: the target's tree appears under the link's name
    seed = ours(store_layer_chunks([linked], mtime=1, store_dir=store_dir))
    with tarfile.open(fileobj=io.BytesIO(seed)) as tar:
        assert any(m.name.startswith("/" + linked.lstrip("/") + "/bin/") for m in tar)

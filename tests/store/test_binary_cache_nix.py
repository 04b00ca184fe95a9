"""Binary caches against the reference Nix 2.8: nixlite substitutes what ``nix copy --to`` wrote
(over a loopback HTTP server), writes caches Nix reads and verifies, and refuses bad caches."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys

import pytest

from nixlite.cli import main
from nixlite.store.binary_cache import NarInfo, SecretKey, Substituter
from nixlite.store.local import LocalStore
from nixlite.store.nar import dump
from nixlite.store.settings import Settings

sys.path.insert(0, os.path.dirname(__file__))
from cache_server import CacheServer, self_signed_cert  # noqa: E402

pytestmark = [
    pytest.mark.nix,
    pytest.mark.skipif(shutil.which("nix") is None or shutil.which("nix-build") is None,
                       reason="needs the reference Nix 2.8 (nix, nix-build)"),
]

NIX_ENV = dict(os.environ)  # Nix keeps the machine's nix.conf; nixlite's lookups are redirected per test

EXPR = r"""
let
  dep = derivation {
    name = "nixlite-bc-dep"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "echo dependency > $out" ];
  };
in derivation {
  name = "nixlite-bc-top"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" ''
    /bin/mkdir -p $out/sub
    echo ${dep} > $out/ref
    echo '#!/bin/sh' > $out/sub/run
    /bin/chmod +x $out/sub/run
    /bin/ln -s ref $out/link
    /usr/bin/seq 1 30000 > $out/numbers
  '' ];
}
"""


def run(*argv, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env=NIX_ENV, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{argv} failed:\n{proc.stderr}")
    return proc


def nix(*argv, check=True) -> subprocess.CompletedProcess:
    return run("nix", "--experimental-features", "nix-command", "--option", "substituters", "",
               *argv, check=check)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Nix builds a two-path closure; a key pair from nix-store; a signed xz cache of the closure."""
    top = run("nix-build", "--no-out-link", "-E", EXPR).stdout.strip()
    d = tmp_path_factory.mktemp("nixcache")
    sk, pk = d / "sk", d / "pk"
    run("nix-store", "--generate-binary-cache-key", "nix-test-1", str(sk), str(pk))
    cache = d / "cache"
    nix("copy", "--to", f"file://{cache}?secret-key={sk}", top)
    closure = run("nix-store", "-qR", top).stdout.split()
    import json
    infos = {i["path"]: i for i in json.loads(nix("path-info", "--json", "-r", top).stdout)}
    return {"top": top, "dep": next(p for p in closure if p != top), "closure": closure,
            "sk": str(sk), "pk": pk.read_text(), "cache": str(cache), "infos": infos}


@pytest.fixture
def conf(nix_conf_dir):
    """nixlite reads no nix.conf but what a test writes (Nix subprocesses keep NIX_ENV)."""
    return nix_conf_dir


def settings_for(urls, pk, **extra) -> Settings:
    s = Settings.load()
    s.set("substituters", " ".join(urls))
    s.set("trusted-public-keys", pk)
    for k, v in extra.items():
        s.set(k.replace("_", "-"), v)
    return s


def nar_of(real_path: str) -> bytes:
    buf = io.BytesIO()
    dump(real_path, buf.write)
    return buf.getvalue()


def assert_same_as_nix(store: LocalStore, built, paths) -> None:
    for p in paths:
        mine, theirs = store.query_path_info(p), built["infos"][p]
        assert mine.nar_hash.sri() == theirs["narHash"]
        assert mine.nar_size == theirs["narSize"]
        assert sorted(mine.references) == theirs["references"]
        assert mine.deriver == theirs["deriver"]
        assert nar_of(store.physical(p)) == subprocess.run(["nix-store", "--dump", p], env=NIX_ENV,
                                                           capture_output=True, check=True).stdout


# ------------------------------------------------------------------ substitution


def test_substitutes_nix_cache_over_http(tmp_path, conf, built):
    store = LocalStore(str(tmp_path / "store"))
    log = []
    with CacheServer(built["cache"]) as server:
        sub = Substituter(settings_for([server.url], built["pk"]), store.store_dir, log=log.append)
        assert set(sub.query([built["top"]])) == {built["top"]}
        assert sub.substitute([built["top"]], store) == {built["top"]}
    assert_same_as_nix(store, built, built["closure"])
    assert sorted(log) == sorted(f"copying path '{p}' from '{server.url}'..." for p in built["closure"])
    for p in built["closure"]:
        narinfo = open(os.path.join(built["cache"], os.path.basename(p)[:32] + ".narinfo")).read()
        assert store.query_path_info(p).sigs == NarInfo.parse(narinfo, "x", "/nix/store").sigs
    assert store.verify() == []
    assert os.listdir(store.tmp_dir) == []


@pytest.mark.parametrize("compression, trust_by", [
    ("zstd", "flag"), ("bzip2", "option"), ("none", "NIX_CONFIG"), ("xz", "nix.conf")])
def test_copy_from_every_compression(tmp_path, conf, built, compression, trust_by, monkeypatch):
    """Every compression Nix writes, with the trusted key given each way a Nix user can."""
    cache = tmp_path / "cache"
    nix("copy", "--to", f"file://{cache}?compression={compression}&secret-key={built['sk']}", built["top"])
    store_dir = str(tmp_path / "store")
    argv = ["store", "copy", "--store", store_dir, "--from", f"file://{cache}", built["top"]]
    if trust_by == "flag":
        argv += ["--trusted-public-keys", built["pk"]]
    elif trust_by == "option":
        argv += ["--option", "trusted-public-keys", built["pk"]]
    elif trust_by == "NIX_CONFIG":
        monkeypatch.setenv("NIX_CONFIG", f"extra-trusted-public-keys = {built['pk']}")
    else:
        (conf / "user" / "nix").mkdir(parents=True)
        (conf / "user" / "nix" / "nix.conf").write_text(f"trusted-public-keys = {built['pk']}\n")
    assert main(argv) == 0
    assert_same_as_nix(LocalStore(store_dir), built, built["closure"])


def test_reuploaded_cache_is_byte_identical_to_nix_copy(tmp_path, conf, built):
    """Substitute from Nix's cache, copy --to again: the same narinfo, NAR and nix-cache-info bytes
    as ``nix copy --to`` with the same key (ed25519 signatures are deterministic)."""
    store_dir = str(tmp_path / "store")
    assert main(["store", "copy", "--store", store_dir, "--from", f"file://{built['cache']}",
                 "--trusted-public-keys", built["pk"], built["top"]]) == 0
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    assert main(["store", "copy", "--store", store_dir, "--to", f"file://{mine}?compression=none",
                 "--sign", built["sk"], built["top"]]) == 0
    nix("copy", "--to", f"file://{theirs}?compression=none&secret-key={built['sk']}", built["top"])
    files = sorted(str(p.relative_to(theirs)) for p in theirs.rglob("*"))
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*")) == files
    assert any(f.endswith(".narinfo") for f in files)
    for f in files:
        if (theirs / f).is_file():
            assert (mine / f).read_bytes() == (theirs / f).read_bytes(), f


@pytest.mark.parametrize("compression", ["xz", "zstd", "bzip2", "none"])
def test_nix_takes_and_verifies_nixlite_uploads(tmp_path, conf, built, compression):
    """nixlite uploads (PUT over HTTP, signed with its own key) its own added path and an
    input-addressed closure; Nix copies them with require-sigs and verifies them."""
    store_dir = str(tmp_path / "store")
    store = LocalStore(store_dir)
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("from nixlite\n")
    os.symlink("d/f", src / "l")
    added, _ = store.add_path(str(src), "nixlite-added")
    assert main(["store", "copy", "--store", store_dir, "--from", f"file://{built['cache']}",
                 "--trusted-public-keys", built["pk"], built["top"]]) == 0
    sk, pk = tmp_path / "sk", tmp_path / "pk"
    assert main(["store", "generate-key", "--key-name", "nixlite-test-1",
                 "--secret-key-file", str(sk), "--public-key-file", str(pk)]) == 0
    served = tmp_path / "served"
    served.mkdir()
    with CacheServer(str(served)) as server:
        assert main(["store", "copy", "--store", store_dir, "--to", f"{server.url}?compression={compression}",
                     "--sign", str(sk), added, built["top"]]) == 0
        assert ("PUT", f"/{os.path.basename(built['top'])[:32]}.narinfo") in server.requests
    root = tmp_path / "nixroot"
    nix("copy", "--from", f"file://{served}", "--to", f"local?root={root}",
        "--option", "require-sigs", "true", "--option", "trusted-public-keys", pk.read_text(),
        added, built["top"])
    for p in [added, *built["closure"]]:
        run("nix-store", "--store", f"local?root={root}", "--verify-path", p)
    sigs = nix("path-info", "--store", f"local?root={root}", "--sigs", built["top"]).stdout
    assert "nixlite-test-1:" in sigs
    # the same upload is refused by a Nix that trusts another key only
    other = tmp_path / "other"
    refused = nix("copy", "--from", f"file://{served}", "--to", f"local?root={other}",
                  "--option", "require-sigs", "true", "--option", "trusted-public-keys",
                  "someone-1:j6faD2sQU9mYAkq0l5ma/YB7tpBBdYP7Ied1tUDTg8M=", built["top"], check=False)
    assert refused.returncode != 0 and "lacks a valid signature" in refused.stderr


# ------------------------------------------------------------------------ faults


def _narinfo_path(cache, path):
    return os.path.join(cache, os.path.basename(path)[:32] + ".narinfo")


def _edit_narinfo(cache, path, edit, sign_with=None):
    f = _narinfo_path(cache, path)
    info = NarInfo.parse(open(f).read(), f, "/nix/store")
    edit(info)
    if sign_with is not None:
        info.sigs = {sign_with.sign(info.path_info())}
    open(f, "w").write(info.to_text())
    return info


def _nar_file(cache, path):
    info = NarInfo.parse(open(_narinfo_path(cache, path)).read(), "x", "/nix/store")
    return os.path.join(cache, info.url)


def wrong_key(cache, built, server, s):
    s.set("trusted-public-keys", "nix-test-1:j6faD2sQU9mYAkq0l5ma/YB7tpBBdYP7Ied1tUDTg8M=")


def bad_signature(cache, built, server, s):
    def flip(info):
        name, _, body = next(iter(info.sigs)).partition(":")
        info.sigs = {f"{name}:{'A' if body[0] != 'A' else 'B'}{body[1:]}"}
    _edit_narinfo(cache, built["top"], flip)


def corrupt_xz(cache, built, server, s):
    f = _nar_file(cache, built["dep"])
    data = bytearray(open(f, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(f, "wb").write(data)


def corrupt_nar_behind_filehash(cache, built, server, s):
    """An uncompressed NAR with a changed byte and the FileHash/FileSize lines dropped
    (the signature does not cover them): only the NAR hash can catch it."""
    nar = _nar_file(cache, built["dep"])
    data = bytearray(lzma_decompress(nar))
    data[data.index(b"dependency")] ^= 0x01  # inside the file contents: still a valid archive
    plain = os.path.join(cache, "nar", "plain.nar")
    open(plain, "wb").write(data)

    def edit(info):
        info.url, info.compression, info.file_hash, info.file_size = "nar/plain.nar", "none", None, None
    _edit_narinfo(cache, built["dep"], edit, sign_with=SecretKey.load(built["sk"]))


def lzma_decompress(path):
    import lzma
    return lzma.decompress(open(path, "rb").read())


def truncated_nar(cache, built, server, s):
    f = _nar_file(cache, built["dep"])
    data = open(f, "rb").read()
    open(f, "wb").write(data[: len(data) // 2])

    def edit(info):
        info.file_hash, info.file_size = None, None
    _edit_narinfo(cache, built["dep"], edit)


def size_too_small(cache, built, server, s):
    def edit(info):
        info.nar_size -= 8
    _edit_narinfo(cache, built["dep"], edit, sign_with=SecretKey.load(built["sk"]))


def size_too_large(cache, built, server, s):
    def edit(info):
        info.nar_size += 8
    _edit_narinfo(cache, built["dep"], edit, sign_with=SecretKey.load(built["sk"]))


def http_500_narinfo(cache, built, server, s):
    server.fail[".narinfo"] = 500


def http_500_nar(cache, built, server, s):
    server.fail[".nar.xz"] = 500


def hangs_on_narinfo(cache, built, server, s):
    server.hang.add(".narinfo")
    s.set("stalled-download-timeout", "1")


def hangs_on_nar(cache, built, server, s):
    server.hang.add(".nar.xz")
    s.set("stalled-download-timeout", "1")


FAULTS = {
    wrong_key: "warning: substituter '{url}' does not have a valid signature for path '{top}'",
    bad_signature: "warning: substituter '{url}' does not have a valid signature for path '{top}'",
    corrupt_xz: "warning: cannot unpack '{url}/nar/",
    corrupt_nar_behind_filehash: "warning: hash mismatch importing path '{dep}';\n  specified: sha256:",
    truncated_nar: "warning: cannot unpack '{url}/nar/",
    size_too_small: "bad archive: longer than the expected",
    size_too_large: "warning: size mismatch importing path '{dep}';\n  specified: ",
    http_500_narinfo: "warning: unable to download '{url}/",
    http_500_nar: "warning: unable to download '{url}/nar/",
    hangs_on_narinfo: "Timeout was reached (28)",
    hangs_on_nar: "Timeout was reached (28)",
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=lambda f: f.__name__)
def test_bad_caches_are_skipped_and_store_unchanged(tmp_path, conf, built, fault):
    cache = tmp_path / "cache"
    shutil.copytree(built["cache"], cache)
    store = LocalStore(str(tmp_path / "store"))
    log = []
    with CacheServer(str(cache)) as server:
        s = settings_for([server.url], built["pk"])
        fault(str(cache), built, server, s)
        got = Substituter(s, store.store_dir, log=log.append).substitute([built["top"]], store)
    assert got == set()
    text = "\n".join(log)
    assert FAULTS[fault].format(url=server.url, top=built["top"], dep=built["dep"]) in text, text
    assert all(line.startswith(("warning: ", "copying path ")) for line in log), log
    assert store.all_valid_paths() == []
    assert os.listdir(store.tmp_dir) == []
    if fault.__name__.startswith(("http_500", "hangs")):
        assert f"warning: disabling binary cache '{server.url}' for 60 seconds" in log


def test_falls_back_to_the_next_substituter(tmp_path, conf, built):
    """A cache serving garbage for one NAR and a cache that answers 500 come first; the good one
    (last, by priority) provides everything and the build goes on."""
    garbage, broken = tmp_path / "garbage", tmp_path / "broken"
    shutil.copytree(built["cache"], garbage)
    shutil.copytree(built["cache"], broken)
    corrupt_xz(str(garbage), built, None, None)
    (tmp_path / "good").mkdir()
    shutil.copytree(built["cache"], tmp_path / "good" / "c")
    with open(tmp_path / "good" / "c" / "nix-cache-info", "a") as f:
        f.write("Priority: 90\n")
    store = LocalStore(str(tmp_path / "store"))
    log = []
    with CacheServer(str(garbage)) as s1, CacheServer(str(broken)) as s2, \
            CacheServer(str(tmp_path / "good" / "c")) as s3:
        s2.fail[".narinfo"] = 500
        s = settings_for([s3.url, s1.url, s2.url], built["pk"])
        assert Substituter(s, store.store_dir, log=log.append).substitute([built["top"]], store) == {built["top"]}
    assert_same_as_nix(store, built, built["closure"])
    assert f"copying path '{built['dep']}' from '{s3.url}'..." in log
    assert any(line.startswith(f"warning: cannot unpack '{s1.url}/nar/") for line in log)


def test_unreachable_substituter_is_skipped(tmp_path, conf, built):
    store = LocalStore(str(tmp_path / "store"))
    with CacheServer(str(tmp_path)) as server:
        dead = server.url  # nothing listens there once the server is gone
    log = []
    s = settings_for([dead, f"file://{built['cache']}"], built["pk"])
    assert Substituter(s, store.store_dir, log=log.append).substitute([built["top"]], store) == {built["top"]}
    assert f"warning: unable to download '{dead}/nix-cache-info': Couldn't connect to server (7)" in log


def test_netrc_credentials(tmp_path, conf, built):
    store = LocalStore(str(tmp_path / "store"))
    with CacheServer(built["cache"]) as server:
        server.auth = "alice:s3cret"
        log = []
        s = settings_for([server.url], built["pk"])
        assert Substituter(s, store.store_dir, log=log.append).substitute([built["top"]], store) == set()
        assert log == [f"warning: unable to download '{server.url}/nix-cache-info': HTTP error 401"]
        (conf / "netrc").write_text("machine 127.0.0.1 login alice password s3cret\n")
        s = settings_for([server.url], built["pk"])
        assert Substituter(s, store.store_dir, log=log.append).substitute([built["top"]], store) == {built["top"]}


def test_copy_from_reports_missing_and_untrusted_paths(tmp_path, conf, built, capsys):
    store_dir = str(tmp_path / "store")
    missing = "/nix/store/" + "a" * 32 + "-missing"
    assert main(["store", "copy", "--store", store_dir, "--from", f"file://{built['cache']}",
                 "--trusted-public-keys", built["pk"], missing]) == 1
    assert capsys.readouterr().err == (
        f"error: path '{missing}' is required, but there is no substituter that can build it\n")
    assert main(["store", "copy", "--store", store_dir, "--from", f"file://{built['cache']}",
                 built["top"]]) == 1
    err = capsys.readouterr().err
    assert re.search(r"warning: substituter 'file://\S+' does not have a valid signature for path", err)
    assert LocalStore(store_dir).all_valid_paths() == []
    assert main(["store", "copy", "--store", store_dir, "--from", f"file://{built['cache']}",
                 "--no-check-sigs", built["top"]]) == 0


def test_https_with_nixs_ssl_cert_file(tmp_path, conf, built):
    """HTTPS checks the server's certificate; Nix's ssl-cert-file setting names the CA to trust."""
    cert, key = self_signed_cert(str(tmp_path))
    store = LocalStore(str(tmp_path / "store"))
    with CacheServer(built["cache"], tls=(cert, key)) as server:
        assert server.url.startswith("https://")
        log = []
        s = settings_for([server.url], built["pk"])
        assert Substituter(s, store.store_dir, log=log.append).substitute([built["top"]], store) == set()
        assert "CERTIFICATE_VERIFY_FAILED" in log[0], log
        s = settings_for([server.url], built["pk"], ssl_cert_file=cert)
        assert Substituter(s, store.store_dir, log=log.append).substitute([built["top"]], store) == {built["top"]}
    assert_same_as_nix(store, built, built["closure"])

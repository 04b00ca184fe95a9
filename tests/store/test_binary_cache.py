"""Binary cache pieces without the reference Nix: settings, keys, narinfo, NAR unpacking,
and the substituter against nixlite's own uploads over a loopback HTTP cache."""

from __future__ import annotations

import io
import os
import sys

import pytest

from nixlite.cli import main
from nixlite.store.binary_cache import (
    BinaryCache,
    BinaryCacheError,
    NarInfo,
    PublicKey,
    SecretKey,
    Substituter,
    is_content_addressed,
    topological_order,
    valid_signatures,
)
from nixlite.store.hashes import parse_hash
from nixlite.store.local import LocalStore, PathInfo, StoreError
from nixlite.store.nar import NarError, dump, nar_hash, restore
from nixlite.store.settings import Settings, SettingsError

sys.path.insert(0, os.path.dirname(__file__))
from cache_server import CacheServer  # noqa: E402


# ------------------------------------------------------------------ settings


def test_settings_read_nix_conf_like_nix(nix_conf_dir, monkeypatch):
    (nix_conf_dir / "nix.conf").write_text(
        "# system file\n"
        "substituters = https://a.example/   https://b.example/  # two\n"
        "extra-trusted-public-keys = k2:x\n"
        "trusted-public-keys = k1:y\n"
        "!include missing.conf\n"
        "include more.conf\n")
    (nix_conf_dir / "more.conf").write_text("require-sigs = false\n")
    user = nix_conf_dir / "user" / "nix"
    user.mkdir(parents=True)
    (user / "nix.conf").write_text("extra-substituters = file:///user\n")
    monkeypatch.setenv("NIX_CONFIG", "connect-timeout = 7\nextra-substituters = http://env")
    s = Settings.load()
    assert s.substituters == ["https://a.example/", "https://b.example/", "file:///user", "http://env"]
    # plain settings apply before extra- ones within a file, whatever their order
    assert s.trusted_public_keys == ["k1:y", "k2:x"]
    assert s.require_sigs is False
    assert s.get_int("connect-timeout") == 7
    assert s.values["netrc-file"] == str(nix_conf_dir / "netrc")
    s.set("substitute", "false")
    assert s.substituters == []


def test_settings_defaults_are_nixs(nix_conf_dir):
    s = Settings.load()
    assert s.substituters == ["https://cache.nixos.org/"]
    assert s.trusted_public_keys == ["cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="]
    assert s.require_sigs is True


@pytest.mark.parametrize("text, message", [
    ("substituters https://a\n", "illegal configuration line 'substituters https://a' in '{conf}'"),
    ("include\n", "illegal configuration line 'include' in '{conf}'"),
    ("include nope.conf\n", "file '{dir}/nope.conf' included from '{conf}' not found"),
])
def test_settings_errors(nix_conf_dir, text, message):
    conf = nix_conf_dir / "nix.conf"
    conf.write_text(text)
    with pytest.raises(SettingsError) as e:
        Settings.load()
    assert str(e.value) == message.format(conf=conf, dir=nix_conf_dir)


def test_settings_bad_boolean(nix_conf_dir):
    s = Settings.load()
    s.set("require-sigs", "yes")
    with pytest.raises(SettingsError, match="Boolean setting 'require-sigs' has invalid value 'yes'"):
        s.require_sigs


# ---------------------------------------------------------------------- keys


def _info(path="/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-x", refs=()):
    return PathInfo(path, parse_hash("sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h"), 120,
                    set(refs))


def test_keys_round_trip_and_sign():
    key = SecretKey.generate("test-1")
    again = SecretKey.parse(key.to_string() + "\n")
    pub = PublicKey.parse(key.public().to_string())
    info = _info(refs=["/nix/store/2nln84g4y9d2bdf8asd8j5i40rryfnyv-dep"])
    sig = again.sign(info)
    assert sig.startswith("test-1:") and len(sig) == len("test-1:") + 88
    assert pub.verify(info.fingerprint(), sig)
    info.sigs = {sig, "other-1:" + sig.split(":", 1)[1]}
    assert valid_signatures(info, {"test-1": pub}) == 1
    info.nar_size += 1  # the fingerprint covers the size: the signature no longer fits
    assert valid_signatures(info, {"test-1": pub}) == 0


def test_fingerprint_is_nixs():
    info = _info(refs=["/nix/store/b" * 1 + "x" * 31 + "-b", "/nix/store/a" + "x" * 31 + "-a"])
    assert info.fingerprint() == (
        "1;/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-x;"
        "sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h;120;"
        "/nix/store/axxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-a,/nix/store/bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-b")


@pytest.mark.parametrize("text, message", [
    ("nocolon", "secret key is corrupt"),
    ("k:!!!", "secret key is corrupt"),
    ("k:AAAA", "secret key is not valid"),
])
def test_bad_secret_keys(text, message):
    with pytest.raises(BinaryCacheError, match=message):
        SecretKey.parse(text)


def test_bad_public_key():
    with pytest.raises(BinaryCacheError, match="public key is not valid"):
        PublicKey.parse("k:AAAA")


def test_generate_key_command(tmp_path):
    sk, pk = tmp_path / "sk", tmp_path / "pk"
    assert main(["store", "generate-key", "--key-name", "cache.example-1",
                 "--secret-key-file", str(sk), "--public-key-file", str(pk)]) == 0
    secret = SecretKey.parse(sk.read_text())
    assert secret.public().to_string() == pk.read_text()
    assert not pk.read_text().endswith("\n")  # as nix-store --generate-binary-cache-key writes them
    assert oct(sk.stat().st_mode & 0o777) == "0o600"


# ------------------------------------------------------------------- narinfo


NARINFO = """\
StorePath: /nix/store/w9jl9vn6sw17n7qv1lmhplkw8am9n9js-probe
URL: nar/021gg6ak2h42qpcmybh2j6l9flx2mhvpglyss6lrr5hqkzbazhdi.nar.xz
Compression: xz
FileHash: sha256:021gg6ak2h42qpcmybh2j6l9flx2mhvpglyss6lrr5hqkzbazhdi
FileSize: 232
NarHash: sha256:10y58w8rcrjlvb2a1w3sas7qjhzrny4y8gmlmli63ix8955n57vv
NarSize: 528
References: 2nln84g4y9d2bdf8asd8j5i40rryfnyv-dep-probe
Deriver: 3g4myxbz20jkyp6d21bpv3frgigz79kk-probe.drv
Sig: test-1:ABum1JBF9UidkQUAYP21Z9FH/RUXApPoRFKn+eEALINRDDYjtMuogRAYoU8TmdyZmEmmCk06ef6ye6nRb4DLCw==
"""


def test_narinfo_round_trip():
    info = NarInfo.parse(NARINFO, "x.narinfo", "/nix/store")
    assert info.references == {"/nix/store/2nln84g4y9d2bdf8asd8j5i40rryfnyv-dep-probe"}
    assert info.deriver == "/nix/store/3g4myxbz20jkyp6d21bpv3frgigz79kk-probe.drv"
    assert info.nar_size == 528 and info.file_size == 232
    assert info.to_text() == NARINFO


@pytest.mark.parametrize("broken", [
    NARINFO.replace("NarSize: 528\n", ""),
    NARINFO.replace("URL: ", "URLX: "),
    NARINFO.replace("NarSize: 528", "NarSize: lots"),
    NARINFO.replace("References: 2nln", "References: ../2nln"),
    "garbage without colon\n",
])
def test_corrupt_narinfo(broken):
    with pytest.raises(BinaryCacheError, match="NAR info file 'x.narinfo' is corrupt"):
        NarInfo.parse(broken, "x.narinfo", "/nix/store")


# ----------------------------------------------------------------------- NAR


def _tree(root):
    os.makedirs(os.path.join(root, "d", "e"))
    with open(os.path.join(root, "d", "e", "f"), "wb") as f:
        f.write(os.urandom(3000))
    with open(os.path.join(root, "run"), "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(os.path.join(root, "run"), 0o755)
    os.symlink("d/e/f", os.path.join(root, "link"))
    open(os.path.join(root, "empty"), "w").close()
    return root


def test_restore_round_trips(tmp_path):
    src = _tree(str(tmp_path / "src"))
    buf = io.BytesIO()
    dump(src, buf.write)
    h, size = restore(io.BytesIO(buf.getvalue()), str(tmp_path / "out"))
    assert (h, size) == nar_hash(src)
    assert nar_hash(str(tmp_path / "out")) == (h, size)
    assert os.readlink(tmp_path / "out" / "link") == "d/e/f"
    assert os.access(tmp_path / "out" / "run", os.X_OK)


def _s(b: bytes) -> bytes:
    return len(b).to_bytes(8, "little") + b + b"\0" * (-len(b) % 8)


def _dir_nar(*names: bytes) -> bytes:
    out = _s(b"nix-archive-1") + _s(b"(") + _s(b"type") + _s(b"directory")
    for n in names:
        out += (_s(b"entry") + _s(b"(") + _s(b"name") + _s(n) + _s(b"node")
                + _s(b"(") + _s(b"type") + _s(b"regular") + _s(b"contents") + _s(b"x") + _s(b")") + _s(b")"))
    return out + _s(b")")


@pytest.mark.parametrize("nar, message", [
    (_dir_nar(b".."), "invalid file name '..'"),
    (_dir_nar(b"a/b"), "invalid file name 'a/b'"),
    (_dir_nar(b"b", b"a"), "NAR directory is not sorted"),
    (_dir_nar(b"a", b"a"), "NAR directory is not sorted"),
    (_dir_nar(b"a")[:-9], "unexpected end-of-file"),
    (_dir_nar(b"a") + b"\0" * 8, "trailing data"),
    (_s(b"nix-archive-1"), "unexpected end-of-file"),
    (b"nix-archive-1", "string too long"),
    (_s(b"tar-archive-1"), "input doesn't look like a Nix archive"),
])
def test_restore_rejects_hostile_archives(tmp_path, nar, message):
    with pytest.raises(NarError, match=message):
        restore(io.BytesIO(nar), str(tmp_path / "out"))
    assert not os.path.exists(tmp_path.parent / ".." / "b")


def test_restore_stops_past_the_limit(tmp_path):
    nar = _dir_nar(b"a", b"b")
    with pytest.raises(NarError, match="longer than the expected 100 bytes"):
        restore(io.BytesIO(nar), str(tmp_path / "out"), limit=100)


def test_topological_order_puts_references_first():
    refs = {"c": {"b", "a"}, "b": {"a", "b"}, "a": set(), "d": {"c", "x"}}
    order = topological_order(refs, lambda p: refs[p])
    assert sorted(order) == sorted(refs)
    for p, rs in refs.items():
        assert all(order.index(r) <= order.index(p) for r in rs if r in refs)


# ----------------------------------------------------- nixlite ↔ nixlite over HTTP


def test_upload_then_substitute_over_http(tmp_path, nix_conf_dir):
    """Store add → copy --to http:// (PUT, signed) → a fresh store substitutes it back."""
    src = _tree(str(tmp_path / "src"))
    up = LocalStore(str(tmp_path / "up"))
    path, _ = up.add_path(src, "tree")
    served = tmp_path / "served"
    served.mkdir()
    key = SecretKey.generate("nixlite-test-1")
    with CacheServer(str(served)) as server:
        settings = Settings.load()
        uploaded = BinaryCache(server.url + "?compression=zstd", settings, up.store_dir).copy_paths(
            up, [path], [key], log=lambda line: None)
        assert uploaded == [path]
        assert ("PUT", "/nix-cache-info") in server.requests
        settings.set("substituters", server.url)
        settings.set("trusted-public-keys", key.public().to_string())
        down = LocalStore(str(tmp_path / "down"))
        lines = []
        assert Substituter(settings, down.store_dir, log=lines.append).substitute([path], down) == {path}
    info = down.query_path_info(path)
    assert info.nar_hash == up.query_path_info(path).nar_hash
    assert valid_signatures(info, {key.name: key.public()}) == 1
    assert is_content_addressed(info, down.store_dir)
    assert lines == [f"copying path '{path}' from '{server.url}'..."]
    assert down.verify() == []


def test_sign_and_verify_sigs_commands(tmp_path, nix_conf_dir, capsys):
    store_dir = str(tmp_path / "s")
    store = LocalStore(store_dir)
    # a content-addressed path is trusted without a signature
    store.add_text("note", b"hi\n")
    assert main(["store", "verify", "--sigs", "--store", store_dir]) == 0
    # an input-addressed one (as a build output is) needs one
    tree = store.make_temp_dir()
    with open(os.path.join(tree, "f"), "w") as f:
        f.write("built\n")
    p = store.add_prepared(tree, "/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-built")
    key_file = tmp_path / "sk"
    key = SecretKey.generate("mine-1")
    key_file.write_text(key.to_string())
    assert main(["store", "verify", "--sigs", "--store", store_dir]) == 2
    assert capsys.readouterr().err == f"path '{p}' is untrusted\n"
    assert main(["store", "sign", "--store", store_dir, "-k", str(key_file), p]) == 0
    assert main(["store", "verify", "--sigs", "--store", store_dir,
                 "--trusted-public-keys", key.public().to_string()]) == 0
    assert main(["store", "verify", "--sigs", "--store", store_dir]) == 2


def test_a_false_content_address_does_not_stand_in_for_a_signature(tmp_path, nix_conf_dir):
    """Content-addressed paths need no signature, so a cache could try to pass other content
    off under a CA path's name: the content is checked against the address."""
    up = LocalStore(str(tmp_path / "up"))
    path, _ = up.add_path(_tree(str(tmp_path / "src")), "tree")
    cache = tmp_path / "cache"
    settings = Settings.load()
    BinaryCache(f"file://{cache}?compression=none", settings, up.store_dir).copy_paths(
        up, [path], log=lambda line: None)
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "payload").write_text("not what the address says\n")
    buf = io.BytesIO()
    dump(str(evil), buf.write)
    (cache / "nar" / "evil.nar").write_bytes(buf.getvalue())
    narinfo = cache / (os.path.basename(path)[:32] + ".narinfo")
    info = NarInfo.parse(narinfo.read_text(), str(narinfo), up.store_dir)
    info.url, info.file_hash, info.file_size = "nar/evil.nar", None, None
    info.nar_hash, info.nar_size = nar_hash(str(evil))
    narinfo.write_text(info.to_text())
    settings.set("substituters", f"file://{cache}")
    settings.set("trusted-public-keys", "")
    down = LocalStore(str(tmp_path / "down"))
    log = []
    assert Substituter(settings, down.store_dir, log=log.append).substitute([path], down) == set()
    assert log[-1].startswith(f"warning: ca hash mismatch importing path '{path}';\n  specified: sha256:")
    assert down.all_valid_paths() == [] and os.listdir(down.tmp_dir) == []


def test_interrupted_substitution_leaves_no_temps(tmp_path, nix_conf_dir):
    """Ctrl-C while downloading: the exception comes through, paths already registered are
    complete, and nothing unpacked-but-unregistered stays under tmp/."""
    up = LocalStore(str(tmp_path / "up"))
    paths = []
    for i in range(6):
        src = tmp_path / f"src{i}"
        src.mkdir()
        (src / "f").write_text(f"file {i}\n" * 1000)
        paths.append(up.add_path(str(src), f"p{i}")[0])
    cache = tmp_path / "cache"
    settings = Settings.load()
    BinaryCache(f"file://{cache}", settings, up.store_dir).copy_paths(up, paths, log=lambda line: None)
    settings.set("substituters", f"file://{cache}")
    down = LocalStore(str(tmp_path / "down"))

    first = min(paths)  # registered first (no references: store-path order), so the others wait

    def log(line: str) -> None:
        if first in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Substituter(settings, down.store_dir, log=log).substitute(paths, down)
    assert down.all_valid_paths() == []
    assert os.listdir(down.tmp_dir) == []
    assert down.verify() == []


def _add_nar(store, source, info):
    temp, h, size = store.restore_nar(source, info.nar_size)
    return store.add_restored(temp, (h, size), info)


def test_add_nar_registers_only_what_matches(tmp_path):
    """LocalStore.restore_nar then add_restored (what a binary-cache download does): a NAR
    stream becomes a valid path with the given references and
    signatures, but only when its hash and size are the ones promised."""
    src = _tree(str(tmp_path / "src"))
    buf = io.BytesIO()
    dump(src, buf.write)
    h, size = nar_hash(src)
    store = LocalStore(str(tmp_path / "store"))
    ref = store.add_text("ref", b"r\n")
    path = "/nix/store/0c6kzph7l0dcbfmjap64f0czdafn3b7x-imported"
    wrong = PathInfo(path, h, size + 8, {ref})
    with pytest.raises(StoreError, match=f"size mismatch importing path '{path}'"):
        _add_nar(store, io.BytesIO(buf.getvalue()), wrong)
    assert not store.is_valid(path) and os.listdir(store.tmp_dir) == []
    info = PathInfo(path, h, size, {ref}, deriver="/nix/store/3g4myxbz20jkyp6d21bpv3frgigz79kk-x.drv",
                    sigs={"k-1:c2ln"})
    assert _add_nar(store, io.BytesIO(buf.getvalue()), info) == path
    got = LocalStore(str(tmp_path / "store")).query_path_info(path)
    assert (got.references, got.deriver, got.sigs) == ({ref}, info.deriver, {"k-1:c2ln"})
    assert store.verify() == []

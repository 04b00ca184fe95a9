"""``nixlite compare A B`` on images written by nixlite's writers, copied by skopeo and
pulled from a real registry: what each kind of difference looks like, text and JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from comparekit import files_layer, skopeo, validate, write_archive

GOLDEN = Path(__file__).parent / "golden"

BASE = files_layer(("etc", "dir", None, {"mode": 0o755}),
                   ("etc/os-release", "file", b"ID=test\n"))
APP_A = files_layer(("app", "dir", None, {"mode": 0o755}),
                    ("app/config", "file", b"x=1\n"),
                    ("app/run", "file", b"#!/bin/sh\n", {"mode": 0o755}),
                    ("app/link", "symlink", "config"),
                    ("app/old", "file", b"old\n"),
                    ("app/owned", "file", b"o\n"),
                    ("app/stamp", "file", b"s\n"))
APP_B = files_layer(("app", "dir", None, {"mode": 0o755}),
                    ("app/config", "file", b"x=2\n"),
                    ("app/run", "file", b"#!/bin/sh\n", {"mode": 0o700}),
                    ("app/link", "symlink", "run"),
                    ("app/new", "file", b"new\n"),
                    ("app/owned", "file", b"o\n", {"uid": 1000, "gid": 100}),
                    ("app/stamp", "file", b"s\n", {"mtime": 86400}))
DATA = files_layer(("data", "dir", None), ("data/file", "file", b"d" * 1000))


@pytest.fixture
def pair(tmp_path, monkeypatch):
    """a.tar and b.tar, differing in every config field and file attribute nixlite
    compares, written in the current directory (so the report names them as given)."""
    monkeypatch.chdir(tmp_path)
    write_archive(Path("a.tar"), [BASE, APP_A])
    write_archive(Path("b.tar"), [BASE, APP_B, DATA], name="test:v2",
                  created="2025-06-07T08:09:10Z",
                  config_Env=["PATH=/usr/bin:/bin", "TZ=UTC"],
                  config_Cmd=["/bin/sh", "-c", "run"], config_User="app",
                  config_Labels={"org.example.a": "2", "org.example.b": "new"},
                  config_ExposedPorts={"8080/tcp": {}}, config_Volumes={"/data": {}})
    return Path("a.tar"), Path("b.tar")


def test_identical_images_exit_0_with_only_the_summary(compare, tmp_path):
    a = write_archive(tmp_path / "a.tar", [BASE, APP_A])
    copy = tmp_path / "copy.tar"
    skopeo("copy", "-q", f"docker-archive:{a}", f"docker-archive:{copy}:test:v1")
    assert compare(a, copy) == (0, "images are identical\n", "")
    status, out, _ = compare(a, copy, "--json", "--files", "both")
    assert status == 0 and json.loads(out)["identical"] is True


def test_every_kind_of_difference_golden_text(compare, pair):
    status, out, err = compare(*pair, "--color=never")
    assert (status, err) == (1, "")
    assert out == (GOLDEN / "representative.txt").read_text()


def test_json_follows_the_documented_schema(compare, pair):
    status, out, _ = compare(*pair, "--json", "--files", "both")
    assert status == 1
    document = json.loads(out)
    validate(document)
    assert document["summary"] == (GOLDEN / "representative.txt").read_text().splitlines()[0] \
        + "; merged file system: 3 added, 1 removed, 5 changed"
    assert [(m["kind"], m["a"], m["b"]) for m in document["layers"]] == [
        ("identical", [0], [0]), ("changed", [1], [1]), ("added", [], [2])]
    changed = {c["path"]: {x["attribute"]: (x["a"], x["b"]) for x in c["changes"]}
               for c in document["layers"][1]["files"]["changed"]}
    assert changed["/app/run"] == {"mode": ("0755", "0700")}
    assert changed["/app/owned"] == {"uid": (0, 1000), "gid": (0, 100)}
    assert changed["/app/link"] == {"target": ("config", "run")}
    assert changed["/app/stamp"] == {"mtime": (1, 86400)}
    assert set(changed["/app/config"]) == {"content"}
    env = next(f for f in document["config"] if f["field"] == "Env")
    assert [(d["op"], d["name"]) for d in env["details"]] == [("-", "LANG"), ("~", "PATH"),
                                                              ("+", "TZ")]
    assert document["names"] == {"a": ["docker.io/library/test:v1"],
                                 "b": ["docker.io/library/test:v2"]}
    assert {e["path"] for e in document["merged"]["added"]} == {"/app/new", "/data",
                                                               "/data/file"}


def test_moved_split_and_merged_layers_are_recognised_by_content(compare, tmp_path):
    one = files_layer(("one", "file", b"1"), ("two", "file", b"2"))
    first, second = files_layer(("one", "file", b"1")), files_layer(("two", "file", b"2"))
    a = write_archive(tmp_path / "a.tar", [BASE, first, second, DATA])
    merged = write_archive(tmp_path / "merged.tar", [BASE, one, DATA])
    moved = write_archive(tmp_path / "moved.tar", [BASE, DATA, first, second])
    status, out, _ = compare(a, merged)
    assert status == 1
    assert re.search(r"\n  > a1,a2 b1 +merged +sha256:", out)
    assert "files:" not in out.splitlines()[0]  # the same files, regrouped
    status, out, _ = compare(merged, a)
    assert status == 1 and re.search(r"\n  < a1 b1,b2 +split +sha256:", out)
    status, out, _ = compare(a, moved, "--json")
    kinds = [(m["kind"], m["a"], m["b"]) for m in json.loads(out)["layers"]]
    assert ("moved", [3], [1]) in kinds and ("identical", [1], [2]) in kinds


def test_ignore_leaves_out_known_noise(compare, tmp_path):
    stamped = files_layer(("f", "file", b"x", {"mtime": 99}))
    a = write_archive(tmp_path / "a.tar", [files_layer(("f", "file", b"x"))])
    b = write_archive(tmp_path / "b.tar", [stamped], created="2030-01-01T00:00:00Z")
    status, out, _ = compare(a, b)
    assert status == 1 and "~ /f  mtime 1970-01-01T00:00:01Z → 1970-01-01T00:01:39Z" in out
    assert compare(a, b, "--ignore", "created,mtime,history") == (
        0, "images are identical (ignoring created, history, mtime)\n", "")
    assert compare(a, b, "--ignore-timestamps", "--ignore-file-timestamps",
                   "--ignore-history")[0] == 0
    assert compare(a, b, "--semantic")[0] == 0
    status, out, _ = compare(a, b, "--ignore", "created,history")  # mtime still counts
    assert status == 1 and "≈" not in out and "1 changed" in out.splitlines()[0]
    status, _, err = compare(a, b, "--ignore", "mtime,colour")
    assert status == 2 and err.startswith("error: unknown --ignore key 'colour' (known: ")


def test_merged_view_applies_whiteouts(compare, tmp_path):
    lower = files_layer(("etc", "dir", None), ("etc/a", "file", b"a"), ("etc/b", "file", b"b"),
                        ("opt", "dir", None), ("opt/x", "file", b"x"))
    upper = files_layer(("etc", "dir", None), ("etc/.wh.a", "file", b""),
                        ("opt", "dir", None), ("opt/.wh..wh..opq", "file", b""),
                        ("opt/y", "file", b"y"))
    a = write_archive(tmp_path / "a.tar", [lower])
    b = write_archive(tmp_path / "b.tar", [lower, upper])
    status, out, _ = compare(a, b, "--files", "merged", "--ignore", "history", "--json")
    merged = json.loads(out)["merged"]
    assert status == 1
    assert [e["path"] for e in merged["removed"]] == ["/etc/a", "/opt/x"]
    assert [e["path"] for e in merged["added"]] == ["/opt/y"]
    status, out, _ = compare(a, b, "--ignore", "history")
    assert "      + /etc/.wh.a  whiteout: deletes /etc/a\n" in out
    assert "      + /opt/.wh..wh..opq  opaque whiteout: hides what is below /opt\n" in out
    status, out, _ = compare(a, b, "--files", "none", "--ignore", "history")
    assert status == 1 and out.splitlines()[-1] == "  + b1         added      " + \
        "sha256:" + __import__("hashlib").sha256(upper).hexdigest()[:12]


def test_a_changed_store_path_pairs_its_files_across_hashes(compare, tmp_path):
    old, new = "nix/store/" + "a" * 32 + "-tool-1", "nix/store/" + "b" * 32 + "-tool-1"
    a = write_archive(tmp_path / "a.tar", [files_layer((f"{old}/bin/tool", "file", b"v1"))])
    b = write_archive(tmp_path / "b.tar", [files_layer((f"{new}/bin/tool", "file", b"v2"))])
    status, out, _ = compare(a, b, "--ignore", "history")
    assert status == 1
    assert f"~ /{old}/bin/tool → /{new}/bin/tool  content sha256:" in out
    assert "1 changed" in out.splitlines()[0] and "added" not in out.splitlines()[0]


def test_oci_layout_from_skopeo_differs_only_in_encoding(compare, tmp_path):
    a = write_archive(tmp_path / "a.tar", [BASE, APP_A])
    skopeo("copy", "-q", f"docker-archive:{a}", f"oci:{tmp_path / 'layout'}:v1")
    status, out, _ = compare(a, tmp_path / "layout")
    assert status == 1
    assert "(compression none → gzip)" in out and "names:" in out
    assert compare(a, tmp_path / "layout", "--ignore", "encoding,name")[0] == 0


def test_registry_side(compare, tmp_path, registry):
    a = write_archive(tmp_path / "a.tar", [BASE, APP_A])
    b = write_archive(tmp_path / "b.tar", [BASE, APP_B])
    skopeo("copy", "-q", "--dest-tls-verify=false", f"docker-archive:{b}",
           f"docker://{registry.host}/compare/b:v1")
    ref = f"docker://{registry.host}/compare/b:v1"
    status, out, _ = compare(a, ref, "--tls-verify=false", "--ignore", "encoding,name")
    assert status == 1 and "~ /app/config  content" in out
    assert compare(b, ref, "--tls-verify=false", "--ignore", "encoding,name")[0] == 0
    remote = f"remote://{registry.host}/compare/b:v1"  # container-diff's spelling
    assert compare(remote, b, "--tls-verify=false", "--ignore", "encoding,name") == (
        0, "images are identical (ignoring encoding, name)\n", "")


def test_colour(compare, pair, monkeypatch):
    assert "\x1b[" in compare(*pair, "--color=always")[1]
    assert "\x1b[" not in compare(*pair)[1]  # auto, and stdout is not a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" in compare(*pair, "--colour", "always")[1]  # the flag wins


@pytest.mark.parametrize("args, message", [
    (["a.tar"], "error: 'nixlite compare' needs two sides (A B), got 1\n"),
    (["a.tar", "missing.tar"], "error: 'missing.tar' does not exist\n"),
    (["a.tar", "junk.tar"], "error: 'junk.tar' is not a docker-archive: it has no manifest.json\n"),
    (["a.tar", "a.tar", "--files", "some"], "error: argument --files: invalid choice: 'some' "
     "(choose from 'layers', 'merged', 'both', 'none')\n"
     "Try 'nixlite compare --help' for more information.\n"),
    (["a.tar", "a.tar", "--frobnicate"], "error: unrecognised flag '--frobnicate'\n"
     "Try 'nixlite compare --help' for more information.\n"),
    (["a.tar", "dir:x"], "error: 'dir:x': skopeo's dir: transport is not supported; nixlite "
     "reads and writes docker://, docker-archive: and oci: (for a directory, use oci:DIR, an "
     "OCI image layout)\n"),
    (["a.tar", "a.tar", "--xml"], "error: unrecognised flag '--xml'\n"
     "Try 'nixlite compare --help' for more information.\n"),
    (["a.tar", "a.tar", "-A", "image"], "error: -A selects from a recipe, but no side is a "
     "recipe (a .nix file or a directory with default.nix)\n"),
    (["daemon://test:v1", "a.tar"], "error: 'daemon://test:v1': nixlite reads no Docker daemon; "
     "save the image with 'docker save -o FILE test:v1' and compare FILE\n"),
])
def test_bad_input_is_an_error_with_status_2(compare, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    write_archive(tmp_path / "a.tar", [BASE])
    (tmp_path / "junk.tar").write_bytes(files_layer(("x", "file", b"x")))
    assert compare(*args) == (2, "", message)


def test_a_layer_that_does_not_match_its_diff_id_is_an_error(compare, tmp_path):
    a = write_archive(tmp_path / "a.tar", [BASE, APP_A])
    broken = tmp_path / "broken"
    skopeo("copy", "-q", f"docker-archive:{a}", f"oci:{broken}:v1")
    layer = json.loads((broken / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((broken / "blobs" / "sha256" / layer.split(":")[1]).read_text())
    blob = broken / "blobs" / "sha256" / manifest["layers"][1]["digest"].split(":")[1]
    data = blob.read_bytes()
    blob.write_bytes(data[:-8] + b"\0" * 8)
    other = write_archive(tmp_path / "b.tar", [BASE, APP_B])  # so the layer is read
    status, out, err = compare(other, broken)
    assert (status, out) == (2, "")
    assert re.fullmatch(r"error: layer sha256:\w+: corrupt gzip data: .*\n", err)


def test_a_large_layer_compares_in_bounded_memory(compare, tmp_path):
    """Two images whose one big file differs in its last byte: each layer streams
    through, hashed in passing; no layer (48 MiB) is ever held whole."""
    import tarfile
    import tracemalloc

    from nixlite.image.model import Image, Layer, file_source
    from nixlite.image.transports import parse_location, write_image

    size = 48 << 20
    for name, last in (("a", b"a"), ("b", b"b")):
        payload = tmp_path / f"{name}.bin"
        with open(payload, "wb") as f:
            for _ in range(size >> 20):
                f.write(b"\x5a" * (1 << 20))
            f.seek(size - 1)
            f.write(last)
        layer = tmp_path / f"{name}.layer"
        with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(payload, "big")
        payload.unlink()
        config = {"architecture": "amd64", "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": []}}
        image = Image.from_config(config, [Layer.from_tar(file_source(str(layer)))], style="go")
        config["rootfs"]["diff_ids"] = [image.layers[0].diff_id]
        image = Image.from_config(config, image.layers, style="go")
        write_image(image, parse_location(str(tmp_path / f"{name}.tar"), output=True))
        layer.unlink()
    tracemalloc.start()
    try:
        status, out, _ = compare(tmp_path / "a.tar", tmp_path / "b.tar", "--files", "both")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 1 and "~ /big  content sha256:" in out
    assert peak < 8 << 20, f"comparing used {peak >> 20} MiB at its peak"


def test_container_diff_types_compare_only_what_they_name(compare, pair):
    status, out, _ = compare(*pair, "--type", "file", "--type", "size")
    lines = out.splitlines()
    assert status == 1
    assert lines[:2] == ["images differ (ignoring config, encoding, name): layers: 1 changed, "
                         "1 added; merged file system: 3 added, 1 removed, 5 changed",
                         "size (uncompressed): a 20.0 KiB, b 30.0 KiB"]
    assert "config:" not in out and "      ~ /app/run" not in out  # no per-layer files
    assert re.search(r"\n  \+ b2 +added +sha256:\w{12}  \[10\.0 KiB\]\n", out)
    status, out, _ = compare(*pair, "-t", "history", "--json")
    assert [f["field"] for f in json.loads(out)["config"]] == ["history"]
    assert compare(*pair, "-t", "apt", "-t", "pip") == (
        2, "", "error: container-diff's package analysers (apt, pip) are not supported: "
               "compare the files that hold the package databases\n")


def test_filename_shows_how_contents_differ(compare, tmp_path):
    lower = files_layer(("etc", "dir", None), ("etc/conf", "file", b"a=1\nb=2\nc=3\n"),
                        ("etc/gone", "file", b"x"), ("bin", "dir", None),
                        ("bin/tool", "file", b"\0\1\2"))
    upper = files_layer(("etc", "dir", None), ("etc/.wh.gone", "file", b""),
                        ("etc/conf", "file", b"a=1\nb=20\nc=3\n"),
                        ("etc/link", "hardlink", "etc/conf"))
    a = write_archive(tmp_path / "a.tar", [lower])
    b = write_archive(tmp_path / "b.tar", [lower, upper])
    paths = ("/etc/conf", "etc/link", "/etc/gone", "/bin/tool")
    status, out, _ = compare(a, b, *(f"--filename={p}" for p in paths), "--json")
    document = json.loads(out)
    validate(document)
    contents = {c.pop("path"): c for c in document["contents"]}
    assert contents == {
        "/etc/conf": {"a": "a=1\nb=2\nc=3\n", "b": "a=1\nb=20\nc=3\n", "a_size": 12, "b_size": 13},
        "etc/link": {"a": None, "b": "a=1\nb=20\nc=3\n", "a_size": None, "b_size": 13},
        "/etc/gone": {"a": "x", "b": None, "a_size": 1, "b_size": None},
        "/bin/tool": {"a": None, "b": None, "a_size": 3, "b_size": 3}}
    status, out, _ = compare(a, b, "-f", "/etc/conf", "-f", "/bin/tool")
    assert out.endswith("contents of /etc/conf:\n  @@ -1,3 +1,3 @@\n   a=1\n  -b=2\n  +b=20\n"
                        "   c=3\ncontents of /bin/tool:\n  (the same)\n")


def test_sigterm_stops_a_comparison_and_its_stream_script(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    marker = tmp_path / "started"
    script = tmp_path / "stream-image"
    script.write_text(f"#!/bin/sh\necho $$ > {marker}.tmp\nmv {marker}.tmp {marker}\n"
                      "exec sleep 600\n")
    script.chmod(0o755)
    other = write_archive(tmp_path / "b.tar", [BASE])
    proc = subprocess.Popen([sys.executable, "-m", "nixlite", "compare", str(script), str(other)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not marker.exists():  # the script is running: nixlite waits for its archive
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (130, "", "error: interrupted by the user\n")
    with pytest.raises(ProcessLookupError):  # killed and reaped before nixlite exited
        os.kill(int(marker.read_text()), 0)


def test_file_names_that_are_not_utf8_keep_their_bytes(tmp_path):
    """In the text, a name that is not UTF-8 is its bytes (as ``ls`` shows it), even where
    Python's standard output is strict UTF-8 (a UTF-8 locale); the JSON stays valid UTF-8,
    with ``\\udcXX`` escapes that ``os.fsencode`` turns back into the bytes."""
    import os
    import subprocess
    import sys

    a = write_archive(tmp_path / "a.tar", [files_layer(("bad\udcffname", "file", b"a\n"))])
    b = write_archive(tmp_path / "b.tar", [files_layer(("bad\udcffname", "file", b"b\n"))])
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}

    def run(*flags):
        return subprocess.run([sys.executable, "-m", "nixlite", "compare", *flags, str(a), str(b)],
                              capture_output=True, env=env)

    text = run("--color=never")
    assert (text.returncode, text.stderr) == (1, b"")
    assert b"\n      ~ /bad\xffname  content sha256:" in text.stdout
    report = run("--json")
    assert report.returncode == 1
    document = json.loads(report.stdout.decode("utf-8"))
    names = [change["path"] for layer in document["layers"]
             for change in layer["files"]["changed"]]
    assert [os.fsencode(name) for name in names] == [b"/bad\xffname"]


def test_names_and_values_from_an_image_cannot_reach_the_terminal(compare, tmp_path):
    """A hostile image's file names, link targets, labels, Env and file lines are shown
    with control characters escaped: no terminal escape or line break of theirs is
    written."""
    evil = "\x1b]0;pwned\x07\x1b[2J"
    a = write_archive(tmp_path / "a.tar", [files_layer((f"app/{evil}\nx", "file", b"a\n"),
                                                       ("app/text", "file", f"{evil}a\n".encode()),
                                                       ("app/lnk", "symlink", evil))],
                      config_Env=[f"A={evil}"], config_Labels={evil: evil})
    b = write_archive(tmp_path / "b.tar", [files_layer((f"app/{evil}\nx", "file", b"b\n"),
                                                       ("app/text", "file", f"{evil}b\n".encode()))])
    status, out, _ = compare(a, b, "--files", "both", "--filename", "/app/text", "--color=never")
    assert status == 1 and "\x1b" not in out and "\x07" not in out
    shown = "\\x1b]0;pwned\\x07\\x1b[2J"
    assert f"~ /app/{shown}\\nx  content" in out and f"-> {shown}" in out
    assert f"- A={shown}" in out and f"- {shown}: {shown}" in out and f"-{shown}a" in out


def test_a_layout_of_several_images_says_how_to_name_one(compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_archive(Path("a.tar"), [BASE])
    for tag in ("x", "y"):
        skopeo("copy", "-q", "docker-archive:a.tar", f"oci:multi:{tag}")
    assert compare("multi", "a.tar") == (
        2, "", "error: 'multi' holds 2 images; name one by tag, as oci:multi:x (it has: x, y)\n")
    assert compare("oci:multi:y", "a.tar", "--ignore", "name,encoding")[0] == 0


@pytest.mark.parametrize("env, coloured", [({}, True), ({"NO_COLOR": "1"}, False),
                                           ({"TERM": "dumb"}, False)])
def test_colour_on_a_terminal(pair, env, coloured):
    """``--color auto`` colours a terminal, unless NO_COLOR is set or the terminal is dumb."""
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    proc = subprocess.run([sys.executable, "-m", "nixlite", "compare", *map(str, pair)],
                          stdout=secondary, stderr=subprocess.PIPE,
                          env={**environ, "TERM": "xterm", **env})
    os.close(secondary)
    out = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal's other side is closed: all read
            break
        if not chunk:
            break
        out += chunk
    os.close(primary)
    assert proc.returncode == 1 and out.startswith(b"\x1b[1mimages differ" if coloured
                                                   else b"images differ")


def test_help_names_what_a_side_is_and_no_flag_compare_ignores(compare):
    status, out, _ = compare("--help")
    words = " ".join(out.split())  # as wrapped for any terminal width
    assert status == 0 and "SIDE an image (docker-archive, OCI layout, docker://REF, result " \
        "link, -) or a recipe" in words
    for flag in ("--expr", "--xml", "--strict", "--find-file", "--no-location"):
        assert flag not in out

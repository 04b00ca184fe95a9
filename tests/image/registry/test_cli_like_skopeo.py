"""What users type, checked against skopeo: transports in every position, inspect's outputs
byte for byte, crane's spellings, early refusal of bad input, progress on a terminal only."""

from __future__ import annotations

import json
import os
import re
import pty
import subprocess
import sys

import pytest

from nixlite.cli import main
from imagekit import docker_archive, image_config, layer_tar
from regkit import free_port, needs_tools, skopeo

pytestmark = needs_tools


def nixlite(*args: str) -> int:
    return main(["image", *args])


# a config exercising Go's re-encoding: +00:00 and a fraction with trailing zeros, maps
# out of order, ports and volumes, a field skopeo's OCI struct does not know, history
RICH = {"created": "2021-03-04T05:06:07.120000+00:00",
        "config": {"Labels": {"z": "1", "a": "<2>"}, "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
                   "Volumes": {"/data": {}}, "Env": ["A=1"], "Entrypoint": ["/bin/sh"],
                   "WorkingDir": "/w", "User": "1000", "StopSignal": "SIGTERM",
                   "Healthcheck": {"Test": ["NONE"]}},
        "container_config": {"Cmd": ["x"]}, "docker_version": "20.10",
        "history": [{"created": "2021-03-04T05:06:07.5-01:30", "created_by": "sh",
                     "empty_layer": True}, {"comment": "c"}]}


@pytest.fixture
def rich_archive(tmp_path):
    layer = layer_tar([("a", b"a")])
    return docker_archive(tmp_path / "rich.tar", [layer], image_config([layer], extra=RICH))


@pytest.fixture
def bare_archive(tmp_path):
    """No created time, no history, no config: skopeo's zero values show."""
    layer = layer_tar([("b", b"b")])
    config = json.loads(image_config([layer]))
    for key in ("created", "history", "config"):
        del config[key]
    return docker_archive(tmp_path / "bare.tar", [layer], json.dumps(config).encode())


def test_inspect_outputs_byte_for_byte_like_skopeo(rich_archive, bare_archive, tmp_path, capfd):
    for archive in (rich_archive, bare_archive):
        layout = tmp_path / f"layout-{archive.stem}"
        assert nixlite("convert", str(archive), str(layout), "-q") == 0
        for src, theirs_src in ((str(archive), f"docker-archive:{archive}"),
                                (f"oci:{layout}", f"oci:{layout}")):
            for flags in ([], ["--config"], ["--config", "--raw"], ["--raw"]):
                capfd.readouterr()
                assert nixlite("inspect", src, *flags) == 0
                ours = capfd.readouterr().out
                assert ours == skopeo("inspect", *flags, theirs_src).stdout, (src, flags)


def test_inspect_registry_config_like_skopeo(registry, rich_archive, capfdbinary):
    ref = f"docker://{registry.host}/cli/rich:1"
    skopeo("copy", "-q", "--dest-tls-verify=false", f"docker-archive:{rich_archive}", ref)
    for flags in (["--config", "--raw"], ["--config"], [], ["--raw"]):
        capfdbinary.readouterr()
        assert nixlite("inspect", ref, *flags, "--tls-verify=false") == 0
        theirs = skopeo("inspect", "--tls-verify=false", *flags, ref).stdout.encode()
        assert capfdbinary.readouterr().out == theirs, flags


def test_pull_output_transports_like_skopeo(images, tmp_path):
    ref = f"docker://{images.host}/test/simple:v1"
    archive, layout = tmp_path / "x.tar", tmp_path / "layout"
    assert nixlite("pull", ref, "-o", f"docker-archive:{archive}:named/it:3", "--tls-verify=false",
                   "-q") == 0
    assert nixlite("pull", ref, "-o", f"oci:{layout}:seven", "--tls-verify=false", "-q") == 0
    theirs_archive, theirs_layout = tmp_path / "s.tar", tmp_path / "s-layout"
    skopeo("copy", "-q", "--src-tls-verify=false", ref, f"docker-archive:{theirs_archive}:named/it:3")
    skopeo("copy", "-q", "--src-tls-verify=false", ref, f"oci:{theirs_layout}:seven")
    assert archive.read_bytes() == theirs_archive.read_bytes()
    unnamed, theirs_unnamed = tmp_path / "unnamed.tar", tmp_path / "s-unnamed.tar"
    assert nixlite("pull", ref, "-o", f"docker-archive:{unnamed}", "--tls-verify=false", "-q") == 0
    skopeo("copy", "-q", "--src-tls-verify=false", ref, f"docker-archive:{theirs_unnamed}")
    assert unnamed.read_bytes() == theirs_unnamed.read_bytes()  # RepoTags [] in both
    # the docker image's config is stored as the OCI struct re-encodes it, as skopeo does
    assert _tree(layout) == _tree(theirs_layout)
    assert sorted(os.listdir(tmp_path)) == ["layout", "s-layout", "s-unnamed.tar", "s.tar",
                                            "unnamed.tar", "x.tar"]


def _tree(directory) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_crane_spellings(images, tmp_path):
    """crane pull IMAGE TARBALL, --insecure; the destination is given once."""
    ref = f"{images.host}/test/simple:v1"
    out = tmp_path / "crane.tar"
    assert nixlite("pull", ref, str(out), "--insecure", "-q") == 0
    expected = tmp_path / "skopeo.tar"
    skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"docker-archive:{expected}:{ref}")
    assert out.read_bytes() == expected.read_bytes()
    assert nixlite("push", str(out), f"docker://{images.host}/crane/copy:1", "--insecure", "-q") == 0


def test_refusals_come_first_and_say_what_to_write(tmp_path, rich_archive, capsys):
    port = free_port()  # nothing listens: any network use would be a connection error
    cases = [
        (["pull", f"docker://127.0.0.1:{port}/a:b"], "needs one destination"),
        (["pull", f"docker://127.0.0.1:{port}/a:b", str(tmp_path / "x"), "-o", "y"],
         "needs one destination"),
        (["convert", str(rich_archive), f"dir:{tmp_path / 'd'}"],
         "skopeo's dir: transport is not supported"),
        (["inspect", "registry.example:5000/x:v1"],
         "'registry.example:5000/x:v1' does not exist (for an image in a registry, write "
         "docker://registry.example:5000/x:v1)"),
        (["inspect", "oci:" + str(tmp_path / "none")], "is not a directory"),
    ]
    bad_auth = tmp_path / "auth.json"
    for content, reason in ((b"{not json", "Expecting property name"),
                            (json.dumps({"auths": []}).encode(), "'auths' is not an object"),
                            (json.dumps({"auths": {"h": {"auth": "%%%"}}}).encode(),
                             "invalid 'auth' value")):
        bad_auth.write_bytes(content)
        assert nixlite("pull", f"docker://127.0.0.1:{port}/a:b", "-o", str(tmp_path / "x.tar"),
                       "--tls-verify=false", "--authfile", str(bad_auth)) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and f"'{bad_auth}'" in err, err
        assert reason in err and str(port) not in err
    for argv, message in cases:
        assert nixlite(*argv, "--tls-verify=false", "--retry-times", "0") == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path)) == ["auth.json", "rich.tar"]


def test_write_errors_name_the_users_path(images, capsys):
    ref = f"docker://{images.host}/test/simple:v1"
    assert nixlite("pull", ref, "-o", "/proc/x.tar", "--tls-verify=false", "-q") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write '/proc/x.tar': ") and ".nixlite" not in err, err


def _run_on_pty(argv: list[str]) -> tuple[int, bytes]:
    """Run nixlite with stderr on a pseudo-terminal; (exit status, what the terminal got)."""
    master, slave = pty.openpty()
    # as a user at a terminal: not under CI (which turns the bar off), colours allowed
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    proc = subprocess.Popen([sys.executable, "-m", "nixlite", *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave, env={**env, "TERM": "xterm"})
    os.close(slave)
    seen = bytearray()
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        seen += data
    os.close(master)
    return proc.wait(timeout=120), bytes(seen)


def _plain(shown: bytes) -> bytes:
    """What the terminal got, without the bar's colours."""
    return re.sub(rb"\x1b\[[0-9;]*m", b"", shown)


def test_progress_on_a_terminal_and_quiet_in_pipes(images, tmp_path):
    ref = f"docker://{images.host}/test/simple:v1"
    code, shown = _run_on_pty(["image", "pull", ref, "-o", str(tmp_path / "a.tar"),
                               "--tls-verify=false"])
    assert code == 0, shown
    # the note is written over the bar; the last frame (however fast the pull was): both
    # layers copied, their bytes downloaded; then the bar is erased
    assert b"\r\x1b[K" + f"pulled {ref[9:]} to ".encode() in shown
    assert re.search(rb"\[2 copied, [0-9.]+ KiB DL", _plain(shown)), shown
    assert shown.endswith(b"\r\x1b[K")
    code, shown = _run_on_pty(["image", "convert", str(tmp_path / "a.tar"),
                               str(tmp_path / "layout")])
    # the last frame (drawn however fast the work was): 3 blobs written, their bytes
    assert code == 0 and re.search(rb"\[3 copied \([0-9.]+ KiB\)", _plain(shown)), shown
    code, shown = _run_on_pty(["image", "push", str(tmp_path / "a.tar"),
                               f"docker://{images.host}/progress/x:1", "--tls-verify=false"])
    assert code == 0 and re.search(rb"\[2 copied, [0-9.]+ KiB DL", _plain(shown)), shown
    piped = subprocess.run([sys.executable, "-m", "nixlite", "image", "pull", ref, "-o",
                            str(tmp_path / "b.tar"), "--tls-verify=false"],
                           capture_output=True, timeout=120)
    assert piped.returncode == 0
    assert piped.stderr == f"pulled {ref[9:]} to {tmp_path / 'b.tar'} (docker-archive)\n".encode()
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()


def test_names_from_an_archive_cannot_reach_the_terminal(tmp_path, capsys):
    """A member name chosen by whoever made the archive is shown with its escapes quoted."""
    from imagekit import tar_file

    layer = layer_tar([("x", b"x")])
    evil = "\x1b]0;pwned\x07\x1b[2J.tar"
    manifest = json.dumps([{"Config": "c.json", "RepoTags": None, "Layers": [evil]}]).encode()
    archive = tar_file(tmp_path / "evil.tar", [("manifest.json", manifest),
                                               ("c.json", image_config([layer]))])
    assert nixlite("inspect", str(archive)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "\x1b" not in err and "\x07" not in err, err
    assert "has no member '\\x1b]0;pwned\\x07\\x1b[2J.tar'" in err


def test_image_without_a_subcommand_is_a_usage_error(capsys):
    assert main(["image"]) == 1
    assert capsys.readouterr().err == ("error: 'nixlite image' needs a subcommand: pull, push, "
                                       "convert or inspect (see 'nixlite image --help')\n")


def test_a_stream_script_is_refused_with_the_pipe_to_run(tmp_path, rich_archive, capsys,
                                                          monkeypatch):
    """streamLayeredImage's result is a script writing the archive: the image commands say
    how to pipe it (its bytes would otherwise be read as a broken tar)."""
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "result"
    script.write_text(f"#!/bin/sh\nexec cat {rich_archive}\n")
    script.chmod(0o755)
    for argv, pipe in ((["inspect", "result"], "./result | nixlite image inspect -"),
                       (["convert", "result", "out"], "./result | nixlite image convert - out"),
                       (["push", "result", "docker://127.0.0.1:1/a:b"],
                        "./result | nixlite image push - docker://127.0.0.1:1/a:b")):
        assert nixlite(*argv) == 1
        assert capsys.readouterr().err == (
            "error: 'result' is a script that writes the image (as streamLayeredImage makes): "
            f"run it, as in '{pipe}'\n")
    assert sorted(os.listdir(tmp_path)) == ["result", "rich.tar"]

"""Progress and output of ``nixlite build``: the status bar on a pseudo-terminal, plain
lines in a pipe (and in CI), Nix's internal-json, Ctrl-C with the bar shown.

The recipe builds two derivations and substitutes a third from a binary cache on loopback
HTTP (so there are copies and downloads to count); the last builder prints a line, then
waits for a mark file the test makes once it has seen that line on the bar: no test here
depends on how fast anything runs."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import uuid

import pytest

from nixlite.activity import Logger

from .conftest import DATA, NIX_ENV, logical_paths, nixlite_cmd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "store"))
from cache_server import CacheServer  # noqa: E402

RECIPE = """{ tag, mark }:
let mk = import %s tag; in rec {
  dep = mk "dep" "echo dependency > $out" { };
  mid = mk "mid" "cat ${dep} > $out" { };
  top = mk "top" "echo step one; while [ ! -e ${mark} ]; do sleep 0.05; done; echo step two; cat ${mid} > $out" { };
}
""" % os.path.join(DATA, "mk.nix")

CLEAR = b"\r\x1b[K"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A signed binary cache holding ``dep``, served over loopback HTTP; the recipe's
    file and the settings that use the cache."""
    d = tmp_path_factory.mktemp("progress")
    tag = "p" + uuid.uuid4().hex[:10]
    recipe = d / "recipe.nix"
    recipe.write_text(RECIPE)

    def run(*argv):
        p = subprocess.run(nixlite_cmd(*argv), capture_output=True, text=True, cwd=d,
                           env={**NIX_ENV, "NIXLITE_STORE": str(d / "store")})
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    dep = logical_paths(run("build", str(recipe), "--argstr", "tag", tag, "--argstr", "mark", "/none",
                            "-A", "dep", "--no-out-link"), str(d / "store"))
    run("store", "generate-key", "--key-name", "progress-1", "--secret-key-file", str(d / "sk"),
        "--public-key-file", str(d / "pk"))
    run("store", "copy", "--to", f"file://{d / 'cache'}", "--sign", str(d / "sk"), dep)
    with CacheServer(str(d / "cache")) as server:
        yield {"recipe": str(recipe), "tag": tag, "dep": dep,
               "config": f"substituters = {server.url}\ntrusted-public-keys = {(d / 'pk').read_text()}"}


def _argv(cache, mark, *extra) -> list[str]:
    return ["build", cache["recipe"], "--argstr", "tag", cache["tag"], "--argstr", "mark", str(mark),
            "-A", "top", "--no-out-link", *extra]


def _env(cache, tmp_path, name: str, **extra) -> dict[str, str]:
    env = {k: v for k, v in NIX_ENV.items() if k not in ("CI", "NO_COLOR", "TERM")}
    return {**env, "NIX_CONFIG": cache["config"], "NIXLITE_STORE": str(tmp_path / name),
            "TERM": "xterm", "LANG": "C.UTF-8", **extra}


class Terminal:
    """nixlite with standard error on a pseudo-terminal of ``cols`` columns."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd, cols: int) -> None:
        self.master, slave = os.openpty()
        self.resize(cols)
        self.proc = subprocess.Popen([sys.executable, "-m", "nixlite", *argv], cwd=cwd, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        self.seen = b""

    def resize(self, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))

    def read_until(self, found) -> None:
        """Read until ``found(what the terminal got)``; a test that never gets there fails
        (after two minutes) instead of hanging."""
        deadline = time.monotonic() + 120
        while not found(self.seen):
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"not on the terminal: {self.seen!r}")
            if not self._read():
                assert found(self.seen), self.seen
                return

    def _read(self) -> bool:
        """One read (waiting at most a second); False at the end."""
        if not select.select([self.master], [], [], 1.0)[0]:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: nixlite is gone
            data = b""
        self.seen += data
        return bool(data)

    def finish(self) -> tuple[int, bytes]:
        while self._read():
            pass
        os.close(self.master)
        self.proc.stdout.close()
        return self.proc.wait(timeout=120), self.seen


def plain(data: bytes) -> bytes:
    return re.sub(rb"\x1b\[[0-9;]*m", b"", data)


def split_screen(seen: bytes) -> tuple[bytes, list[bytes]]:
    """The lines printed above the bar (as a pipe would get them) and the bar's frames."""
    lines, frames = b"", []
    for part in seen.split(CLEAR):
        end = part.rfind(b"\r\n") + 2 if b"\r\n" in part else 0
        lines += part[:end]
        if part[end:]:
            frames.append(plain(part[end:]))
    return lines.replace(b"\r\n", b"\n"), frames


def test_bar_on_a_terminal_keeps_the_lines_a_pipe_gets(cache, tmp_path):
    mark = tmp_path / "mark"
    term = Terminal(_argv(cache, mark), _env(cache, tmp_path, "tty"), tmp_path, cols=200)
    tag = cache["tag"].encode()
    # builds: 1 running, 1 done of 2; 1 path copied, downloaded; the builder's last line
    mid_build = re.compile(rb"\[1/1/2 built, 1 copied \([0-9.]+ KiB\), [0-9.]+ KiB DL(, [0-9.]+ [KM]iB/s)?\] "
                           rb"building " + tag + rb"-top: step one$")
    term.read_until(lambda seen: any(mid_build.match(f) for f in split_screen(seen)[1]))
    term.resize(30)  # a narrow terminal: the next frame fits in it
    os.kill(term.proc.pid, signal.SIGWINCH)
    term.read_until(lambda seen: len(split_screen(seen)[1][-1]) <= 29)
    mark.write_text("")
    status, seen = term.finish()
    assert status == 0, seen
    lines, frames = split_screen(seen)
    assert seen.endswith(CLEAR)  # erased at the end
    # the last frame: all built and copied, cut to the narrow terminal
    assert frames[-1].startswith(b"[2 built, 1 copied (") and len(frames[-1]) == 29, frames[-1]
    # the lines above the bar are exactly what a pipe gets
    piped = subprocess.run(nixlite_cmd(*_argv(cache, mark)), capture_output=True, cwd=tmp_path,
                           env=_env(cache, tmp_path, "pipe"))
    assert piped.returncode == 0 and b"\x1b" not in piped.stderr
    assert lines == piped.stderr
    assert lines.splitlines()[-2:] == [f"building '{d}'...".encode() for d in _drvs(piped.stderr)]


def _drvs(stderr: bytes) -> list[str]:
    return re.findall(r"^  (/nix/store/\S+\.drv)$", stderr.decode(), re.M)


def test_quiet_on_a_terminal_in_ci_and_raw_on_request(cache, tmp_path):
    """``CI`` set, or ``--log-format raw``: the lines a pipe gets, without a single escape;
    ``-v`` adds the downloads (Nix's talkative level), ``-L`` the build log."""
    mark = tmp_path / "mark"
    mark.write_text("")
    term = Terminal(_argv(cache, mark), _env(cache, tmp_path, "ci", CI="true"), tmp_path, cols=80)
    status, seen = term.finish()
    assert status == 0 and b"\x1b" not in seen and b"building '" in seen, seen
    term = Terminal(_argv(cache, mark, "--log-format", "raw", "-L", "-v"),
                    _env(cache, tmp_path, "raw"), tmp_path, cols=80)
    status, raw = term.finish()
    assert status == 0 and b"\x1b" not in raw
    download = re.search(rb"downloading 'http://127\.0\.0\.1:\d+/nar/\S+'\.\.\.\r\n", raw)
    assert download and raw.index(b"copying path") < download.start()
    assert raw.replace(download.group(), b"").replace(b"step one\r\nstep two\r\n", b"") == seen


def test_bar_with_logs_names_each_line(cache, tmp_path):
    mark = tmp_path / "mark"
    mark.write_text("")
    term = Terminal(_argv(cache, mark, "-L"), _env(cache, tmp_path, "logs", NO_COLOR="1"),
                    tmp_path, cols=120)
    status, seen = term.finish()
    lines, _ = split_screen(seen)
    tag = cache["tag"]
    assert status == 0 and b"\x1b[1m" not in seen  # NO_COLOR: a bar without colours
    assert f"{tag}-top> step one\n{tag}-top> step two\n".encode() in lines


def test_internal_json_is_nix_s(cache, tmp_path):
    mark = tmp_path / "mark"
    mark.write_text("")
    p = subprocess.run(nixlite_cmd(*_argv(cache, mark, "--log-format", "internal-json")),
                       capture_output=True, cwd=tmp_path, env=_env(cache, tmp_path, "json"))
    assert p.returncode == 0, p.stderr
    events = _parse(p.stderr)
    started = {e["id"]: e for e in events if e["action"] == "start"}
    by_type = {}
    for e in started.values():
        by_type.setdefault(e["type"], []).append(e)
    # Nix's activity types: realise, builds, copy paths, substitute, copy path, download, build
    assert sorted(by_type) == [100, 101, 102, 103, 104, 105, 108]
    dep = cache["dep"]
    (copy,) = by_type[100]
    assert copy["fields"][:2] == [dep, copy["fields"][1]] and copy["level"] == 3
    assert copy["text"] == f"copying path '{dep}' from '{copy['fields'][1]}'"
    assert by_type[108][0]["fields"] == [dep, copy["fields"][1]]
    assert copy["parent"] == by_type[108][0]["id"]  # the copy belongs to the substitution
    assert by_type[101][0]["text"].startswith("downloading 'http://127.0.0.1:")
    builds = {e["fields"][0]: e for e in by_type[105]}
    for drv, e in builds.items():
        assert e["fields"] == [drv, "", 1, 1] and e["text"] == f"building '{drv}'" and e["level"] == 3
    top = next(e for d, e in builds.items() if d.endswith("-top.drv"))
    assert [e["fields"] for e in events if e["action"] == "result" and e["id"] == top["id"]
            and e["type"] == 101] == [["step one"], ["step two"]]
    progress = [e["fields"] for e in events if e["action"] == "result" and e["type"] == 105
                and e["id"] == by_type[104][0]["id"]]
    assert progress[-1] == [2, 2, 0, 0]  # done, expected, running, failed
    plan = [e["msg"] for e in events if e["action"] == "msg"]
    assert plan[0] == "these 2 derivations will be built:" and all(
        e["level"] == 3 for e in events if e["action"] == "msg")


def test_internal_json_reports_a_failure(tmp_path, nixlite):
    tag = "f" + uuid.uuid4().hex[:10]
    p = nixlite("build", os.path.join(DATA, "failures.nix"), "--argstr", "tag", tag, "-A", "noisy",
                "--no-out-link", "--log-format", "json")
    assert p.returncode == 100
    events = _parse(p.stderr)
    (build,) = [e for e in events if e["action"] == "start" and e["type"] == 105]
    lines = [e["fields"][0] for e in events if e["action"] == "result" and e["id"] == build["id"]]
    assert lines == [f"line {i}" for i in range(1, 16)] + ["to-stderr"]
    last = events[-1]
    assert last["action"] == "msg" and last["level"] == 0 and last["line"] is None
    assert last["raw_msg"] == f"builder for '{build['fields'][0]}' failed with exit code 3"
    assert last["msg"] == "error: " + last["raw_msg"]  # the log is in the stream: no tail


def _parse(stderr: bytes) -> list[dict]:
    """Every line is ``@nix {json}``; activities start once, stop once, after their start
    and after all their results; results belong to running activities."""
    events, running, stopped = [], set(), set()
    for line in stderr.decode().splitlines():
        assert line.startswith("@nix "), line
        e = json.loads(line[5:])
        assert line[5:] == json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if e["action"] == "start":
            assert e["id"] not in running | stopped and e["parent"] in running | {0}
            assert set(e) <= {"action", "id", "level", "type", "text", "parent", "fields"}
            running.add(e["id"])
        elif e["action"] == "stop":
            running.remove(e["id"])
            stopped.add(e["id"])
        elif e["action"] == "result":
            assert e["id"] in running and e["type"] in range(100, 109)
        else:
            assert e["action"] == "msg" and isinstance(e["msg"], str)
        events.append(e)
    assert not running  # every activity stopped
    return events


def test_ctrl_c_erases_the_bar_before_the_error(tmp_path, nixlite):
    """Interrupted while a builder runs with the bar shown: the bar goes, the usual
    ``error:`` line comes, and nothing is drawn after it."""
    tag = "c" + uuid.uuid4().hex[:10]
    recipe = tmp_path / "hang.nix"
    recipe.write_text(f'import {DATA}/mk.nix "{tag}" "hang" "echo waiting; sleep 600" {{ }}')
    env = {**{k: v for k, v in NIX_ENV.items() if k != "CI"}, "TERM": "xterm",
           "NIXLITE_STORE": str(tmp_path / "store")}
    term = Terminal(["build", str(recipe), "--no-out-link", "--quiet"], env, tmp_path, cols=100)
    term.read_until(lambda seen: any(f.endswith(f"building {tag}-hang: waiting".encode())
                                     for f in split_screen(seen)[1]))
    os.kill(term.proc.pid, signal.SIGINT)
    status, seen = term.finish()
    assert status == 130
    assert seen.endswith(CLEAR + b"error: interrupted by the user\r\n"), seen
    assert b"will be built" not in seen and b"building '" not in seen  # --quiet: the bar only


class Recorder(Logger):
    """A logger that keeps every event, for the library's side of the interface."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def log(self, level, text):
        self.events.append(("msg", int(level), text))

    def started(self, act):
        self.events.append(("start", act.id, int(act.type), act.text, act.fields, act.parent))

    def stopped(self, act):
        self.events.append(("stop", act.id))

    def result(self, act, kind, fields):
        self.events.append(("result", act.id, int(kind), fields))


def test_native_steps_report_their_phase(tmp_path, store, nixlite):
    """A native step writing its output reports it as its build's phase; its log lines are
    the build's; the realiser counts the build."""
    from nixlite.build.realise import Realiser
    from nixlite.image.steps.context import write_output
    from nixlite.store.local import LocalStore

    tag = uuid.uuid4().hex[:8]
    (tmp_path / "s.nix").write_text(f'derivation {{ name = "step-{tag}"; system = "builtin"; '
                                    'builder = "builtin:write"; }')
    drv = nixlite("instantiate", "s.nix", check=True).stdout.decode().strip()

    def write(ctx):
        ctx.log.write("writing\n")
        write_output(ctx, ctx.outputs["out"], [b"x" * 100])

    recorder = Recorder()
    Realiser(LocalStore(store), {"write": write}, logger=recorder).realise([(drv, None)])
    events = recorder.events
    (build,) = [e for e in events if e[0] == "start" and e[2] == 105]
    assert build[3] == f"building '{drv}'" and build[4] == (drv, "", 1, 1)
    # the phase comes from the step's thread, the log line through the log's pipe: in
    # either order
    mine = [e[2:] for e in events if e[0] == "result" and e[1] == build[1]]
    assert sorted(mine) == [(101, ("writing",)), (104, ("writing output",))]
    builds = next(e for e in events if e[0] == "start" and e[2] == 104)
    assert [e[3] for e in events if e[0] == "result" and e[1] == builds[1]] == [
        (0, 1, 1, 0), (1, 1, 0, 0)]  # running, then built
    started = [e[1] for e in events if e[0] == "start"]
    assert sorted(started) == sorted(e[1] for e in events if e[0] == "stop")


def test_traces_and_warnings_are_internal_json_messages(tmp_path, nixlite):
    """Every line of ``--log-format internal-json`` is an ``@nix`` object, traces and
    warnings of evaluation too, at Nix's levels (a trace is an error-level message, as
    ``nix-instantiate --log-format internal-json`` writes it); without it they are text."""
    expr = 'builtins.trace "look" (builtins.warn "careful" 1)'
    p = nixlite("eval", "--log-format", "internal-json", "-E", expr, "--option", "nope", "1")
    assert (p.returncode, p.stdout) == (0, b"1\n")
    lines = p.stderr.decode().splitlines()
    assert all(line.startswith("@nix ") for line in lines), lines
    assert [json.loads(line[5:]) for line in lines] == [
        {"action": "msg", "level": 1, "msg": "warning: unknown setting 'nope'"},
        {"action": "msg", "level": 0, "msg": "trace: look"},
        {"action": "msg", "level": 1, "msg": "evaluation warning: careful"}]
    plain = nixlite("eval", "-E", expr)
    assert plain.stderr == b"trace: look\nevaluation warning: careful\n"

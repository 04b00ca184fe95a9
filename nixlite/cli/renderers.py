"""The renderers behind ``--log-format`` (chosen by ``nixlite.cli.logs``): Nix's
``internal-json`` lines and the status bar.  A module of its own so that commands which
show no progress (an evaluation) never import it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time

from nixlite.activity import Activity, ActivityType, Logger, ResultType, Verbosity


# --- internal-json ----------------------------------------------------------------------------
def _text(value):
    """A string as JSON carries it: bytes that are not UTF-8 become U+FFFD, as in Nix."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


class JSONLogger(Logger):
    """Nix's ``--log-format internal-json``: one ``@nix {…}`` object per line (keys sorted,
    as Nix writes them).  Progress results are sent at most ten times a second per activity,
    except the one that completes it, as today's Nix does."""

    shows_build_logs = True  # every line is in the stream: failures need no tail

    def __init__(self, stream, verbosity: Verbosity) -> None:
        self.stream = stream
        self.verbosity = verbosity
        self._lock = threading.Lock()
        self._last_progress: dict[int, float] = {}

    def _write(self, obj: dict) -> None:
        line = "@nix " + json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        data = (line + "\n").encode("utf-8", "replace")
        with self._lock:
            out = getattr(self.stream, "buffer", None)
            if out is None:
                self.stream.write(data.decode())
            else:
                self.stream.flush()
                out.write(data)
                out.flush()
            self.stream.flush()

    def log(self, level: Verbosity, text: str) -> None:
        if level <= self.verbosity:
            self._write({"action": "msg", "level": int(level), "msg": _text(text)})

    def error(self, rendered: str, message: str, pos) -> None:
        obj = {"action": "msg", "level": int(Verbosity.ERROR), "msg": _text(rendered),
               "raw_msg": _text(message), "line": None, "column": None, "file": None}
        if pos is not None:
            obj.update(line=pos.line, column=pos.col, file=_text(str(pos.file)))
        self._write(obj)

    def started(self, act: Activity) -> None:
        obj = {"action": "start", "id": act.id, "level": int(act.level), "type": int(act.type),
               "text": _text(act.text), "parent": act.parent}
        if act.fields:
            obj["fields"] = [_text(f) for f in act.fields]
        self._write(obj)

    def stopped(self, act: Activity) -> None:
        self._last_progress.pop(act.id, None)
        self._write({"action": "stop", "id": act.id})

    def result(self, act: Activity, kind: ResultType, fields: tuple) -> None:
        if kind == ResultType.PROGRESS and not (fields[1] and fields[0] >= fields[1]):
            now = time.monotonic()
            if now - self._last_progress.get(act.id, -1.0) < 0.1:
                return
            self._last_progress[act.id] = now
        obj = {"action": "result", "id": act.id, "type": int(kind)}
        if fields:
            obj["fields"] = [_text(f) for f in fields]
        self._write(obj)


# --- the bar ------------------------------------------------------------------------------------
BOLD, FAINT, NORMAL = "\x1b[1m", "\x1b[2m", "\x1b[0m"
RED, GREEN, BLUE = "\x1b[31;1m", "\x1b[32;1m", "\x1b[34;1m"
CLEAR = "\r\x1b[K"


class _Info:
    """What the bar keeps of one running activity."""

    __slots__ = ("type", "text", "parent", "name", "last_line", "phase", "visible",
                 "done", "expected", "running", "failed", "expected_by_type")

    def __init__(self, act: Activity) -> None:
        self.type = act.type
        self.text = act.text
        self.parent = act.parent
        self.name = ""
        self.last_line = ""
        self.phase = ""
        self.visible = True
        self.done = self.expected = self.running = self.failed = 0
        self.expected_by_type: dict[int, int] = {}


class _Totals:
    """Of one activity type: what its stopped activities did, what is still expected."""

    __slots__ = ("done", "expected", "failed")

    def __init__(self) -> None:
        self.done = self.expected = self.failed = 0


def _store_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    name = base.split("-", 1)[1] if "-" in base else ""
    return name[:-4] if name.endswith(".drv") else name


def _package_name(name: str) -> str:
    """Nix's ``DrvName``: the name up to the first dash followed by a digit."""
    for i in range(len(name) - 1):
        if name[i] == "-" and name[i + 1].isdigit():
            return name[:i]
    return name


def _size_unit(n: float) -> int:
    unit = 0
    while abs(n) > 1024 and unit < 8:
        unit += 1
        n /= 1024
    return unit


def _sizes(values: list[int]) -> tuple[list[str], str]:
    """Nix's sizes on the bar: one unit for all when they share it (``1.2/4.0 MiB``)."""
    units = {_size_unit(v) for v in values}
    if len(units) == 1:
        unit = units.pop()
        scale = 1024.0 ** max(1, unit)
        return [f"{v / scale:.1f}" for v in values], f" {'KKMGTPEZY'[unit]}iB"
    return [_render_size(v) for v in values], ""


def _render_size(n: float) -> str:
    unit = _size_unit(n)
    return f"{n / 1024.0 ** max(1, unit):.1f} {'KKMGTPEZY'[unit]}iB"


class BarLogger(Logger):
    """Lines above, one status line below (``--log-format bar``; see ``nixlite.cli.logs``)."""

    INTERVAL = 0.1  # at most ten redraws a second

    def __init__(self, stream, verbosity: Verbosity, build_logs: bool, colour: bool = True,
                 ascii_only: bool = False) -> None:
        self.stream = stream
        self.verbosity = verbosity
        self.shows_build_logs = build_logs
        self.colour = colour
        self.ascii_only = ascii_only
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._acts: dict[int, _Info] = {}  # in order of last news: the newest is shown
        self._totals: dict[int, _Totals] = {}
        self._bytes: list[tuple[float, int, bool]] = []  # (time, bytes, downloaded): the rate's window
        self._moved: dict[int, int] = {}
        self._shown = ""     # the status line on the terminal now ("" when none)
        self._dirty = False
        self._active = True
        self._resized = False
        self._hidden = False  # erased until the next news (a result went to standard output)
        self._previous_winch = None
        self._thread: threading.Thread | None = None  # started with the first news

    # -- events (any thread) -------------------------------------------------------------------
    def log(self, level: Verbosity, text: str) -> None:
        if level <= self.verbosity:
            self._above(text)

    def started(self, act: Activity) -> None:
        if act.text and act.level <= self.verbosity and act.type != ActivityType.BUILD_WAITING:
            self._above(act.text + "...")
        with self._lock:
            info = _Info(act)
            if act.type == ActivityType.BUILD and act.fields:
                name = _store_name(act.fields[0])
                info.text = f"building {self._c(BOLD)}{name}{self._c(NORMAL)}"
                info.name = _package_name(name)
            elif act.type == ActivityType.SUBSTITUTE and len(act.fields) >= 2:
                verb = "copying" if act.fields[1].startswith("local") else "fetching"
                info.text = (f"{verb} {self._c(BOLD)}{_store_name(act.fields[0])}{self._c(NORMAL)}"
                             f" from {act.fields[1]}")
            if (act.type == ActivityType.FILE_TRANSFER and self._has_ancestor(ActivityType.COPY_PATH, act.parent)) \
                    or (act.type == ActivityType.COPY_PATH
                        and self._has_ancestor(ActivityType.SUBSTITUTE, act.parent)):
                info.visible = False
            self._acts[act.id] = info
            self._totals.setdefault(act.type, _Totals())
            self._changed()

    def stopped(self, act: Activity) -> None:
        with self._lock:
            info = self._acts.pop(act.id, None)
            if info is None:
                return
            totals = self._totals[info.type]
            totals.done += info.done
            totals.failed += info.failed
            for kind, n in info.expected_by_type.items():
                self._totals.setdefault(kind, _Totals()).expected -= n
            self._moved.pop(act.id, None)
            self._changed()

    def result(self, act: Activity, kind: ResultType, fields: tuple) -> None:
        if kind == ResultType.BUILD_LOG_LINE:
            line = _printable(fields[0]).rstrip()
            if not line:
                return
            if self.shows_build_logs:
                with self._lock:
                    info = self._acts.get(act.id)
                    name = info.name if info is not None and info.name else "unnamed"
                self._above(f"{self._c(FAINT)}{name}> {self._c(NORMAL)}{fields[0]}")
                return
        with self._lock:
            info = self._acts.get(act.id)
            if info is None:
                return
            if kind == ResultType.BUILD_LOG_LINE:
                info.last_line = line
                self._acts[act.id] = self._acts.pop(act.id)  # the newest news
            elif kind == ResultType.SET_PHASE:
                info.phase = _printable(fields[0])
            elif kind == ResultType.PROGRESS:
                if info.type in (ActivityType.FILE_TRANSFER, ActivityType.COPY_PATH):
                    self._count_bytes(act.id, fields[0], info.type == ActivityType.FILE_TRANSFER)
                info.done, info.expected, info.running, info.failed = fields[:4]
            elif kind == ResultType.SET_EXPECTED:
                totals = self._totals.setdefault(fields[0], _Totals())
                totals.expected += fields[1] - info.expected_by_type.get(fields[0], 0)
                info.expected_by_type[fields[0]] = fields[1]
            else:
                return
            self._changed()

    def _count_bytes(self, act_id: int, done: int, downloaded: bool) -> None:
        """Bytes moved, for the rate."""
        moved = done - self._moved.get(act_id, 0)
        self._moved[act_id] = done
        if moved > 0:
            self._bytes.append((time.monotonic(), moved, downloaded))

    def _has_ancestor(self, kind: ActivityType, act_id: int) -> bool:
        while act_id:
            info = self._acts.get(act_id)
            if info is None:
                return False
            if info.type == kind:
                return True
            act_id = info.parent
        return False

    def _changed(self) -> None:
        self._dirty = True
        self._hidden = False
        if self._thread is None and self._active:
            if threading.current_thread() is threading.main_thread():
                with contextlib.suppress(ValueError, OSError):
                    self._previous_winch = signal.signal(signal.SIGWINCH, self._on_winch)
            self._thread = threading.Thread(target=self._run, name="nixlite-bar", daemon=True)
            self._thread.start()
        self._wake.notify()

    def _c(self, code: str) -> str:
        return code if self.colour else ""

    # -- drawing -------------------------------------------------------------------------------
    def _above(self, text: str) -> None:
        """A message: printed on the bar's line (as it is: only the bar is fitted to the
        terminal), then the bar again under it."""
        with self._lock:
            if not self._active:
                self._write(text + "\n")
                return
            self._write(CLEAR + text + "\n" + self._shown)

    def _write(self, text: str) -> None:
        out = getattr(self.stream, "buffer", None)
        data = text.encode("utf-8", "surrogateescape")
        if out is None:
            self.stream.write(data.decode("utf-8", "replace"))
            self.stream.flush()
        else:
            out.write(data)
            out.flush()

    def _on_winch(self, signum, frame) -> None:
        self._resized = True  # the drawing thread redraws to the new width
        previous = self._previous_winch
        if callable(previous):
            previous(signum, frame)

    def _run(self) -> None:
        last_draw = 0.0
        with self._lock:
            while self._active:
                self._wake.wait(timeout=0.25)
                if not self._active:
                    return
                wait = last_draw + self.INTERVAL - time.monotonic()
                if wait > 0:
                    self._wake.wait(timeout=wait)  # releases the lock: events go on
                    if not self._active:
                        return
                if self._dirty or self._resized or self._bytes:
                    self._dirty = self._resized = False
                    try:
                        self._draw()
                    except OSError:  # the terminal is gone: the command finds out itself
                        self._active = False
                        return
                    last_draw = time.monotonic()

    def _draw(self) -> None:
        if self._hidden:
            return
        line = self.render(self._width())
        shown = line + self._c(NORMAL) if line else ""  # a line cut in a colour ends it
        if shown != self._shown:
            self._write(CLEAR + shown)
            self._shown = shown

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return 0

    def render(self, width: int = 0) -> str:
        """The status line (escapes included), cut to ``width`` columns (0: no limit)."""
        status = self._status()
        line = f"[{status}]" if status else ""
        for info in reversed(self._acts.values()):
            if info.visible and (info.text or info.last_line):
                line += " " if line else ""
                line += info.text
                if info.phase:
                    line += f" ({info.phase})"
                if info.last_line:
                    line += (": " if info.text else "") + info.last_line
                break
        if self.ascii_only:
            line = line.encode("ascii", "replace").decode()
        return _cut(line, width - 1) if width > 0 else line

    def _status(self) -> str:
        parts = []
        built = self._counts(ActivityType.BUILDS, "%s built", "%d")
        if built:
            parts.append(built)
        copied = self._counts(ActivityType.COPY_PATHS, "%s copied", "%d")
        sizes = self._counts(ActivityType.COPY_PATH, "%s", None)
        if copied or sizes:
            parts.append((copied or "0 copied") + (f" ({sizes})" if sizes else ""))
        download = self._counts(ActivityType.FILE_TRANSFER, "%s DL", None)
        if download:
            parts.append(download)
        rate = self._rate()
        if rate:
            parts.append(f"{_render_size(rate)}/s")
        return ", ".join(parts)

    def _counts(self, kind: ActivityType, item: str, number: str | None) -> str:
        """Nix's figures for one activity type: running/done/expected, coloured;
        ``number`` None renders them as sizes."""
        totals = self._totals.get(kind)
        if totals is None:
            return ""
        done, expected, running, failed = totals.done, totals.done, 0, totals.failed
        for info in self._acts.values():
            if info.type == kind:
                done += info.done
                expected += info.expected
                running += info.running
                failed += info.failed
        expected = max(expected, totals.expected)
        if not (running or done or expected or failed):
            return ""
        c = self._c
        if running:
            values, colours = ([running, done, expected] if expected else [running, done]), [BLUE, GREEN, ""]
        elif expected != done:
            values, colours = ([done, expected] if expected else [done]), [GREEN, ""]
        else:
            values, colours = [done], [GREEN if done else ""]
        if number is None:
            texts, unit = _sizes(values)
        else:
            texts, unit = [number % v for v in values], ""
        s = "/".join(f"{c(colour)}{t}{c(NORMAL)}" if colour else t for t, colour in zip(texts, colours))
        s = item % (s + unit)
        if failed:
            shown = _render_size(failed) if number is None else str(failed)
            s += f" ({c(RED)}{shown} failed{c(NORMAL)})"
        return s

    def _rate(self) -> float:
        """Bytes a second over the last three seconds: downloaded where anything was (a
        copy from a remote cache is its download, unpacked), else copied."""
        now = time.monotonic()
        self._bytes = window = [b for b in self._bytes if now - b[0] <= 3.0]
        downloads = [b for b in window if b[2]]
        window = downloads or window
        if not window:
            return 0.0
        return sum(n for _, n, _ in window) / max(now - window[0][0], 0.5)

    def erase(self) -> None:
        """Erase the bar until there is news (something else is about to be written to
        the terminal).  Its last state is drawn first, so what a fast operation did is
        always shown once."""
        with self._lock:
            if self._thread is not None:
                self._draw()
            self._hidden = True
            if self._shown:
                self._write(CLEAR)
                self._shown = ""

    def stop(self) -> None:
        """Erase the bar and stop drawing (idempotent)."""
        with self._lock:
            if not self._active:
                return
            self.erase()
            self._active = False
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._previous_winch is not None:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signal.SIGWINCH, self._previous_winch)
            self._previous_winch = None


def _printable(text: str) -> str:
    """A builder's line as the bar can show it: no escape sequences, no control
    characters, a tab as a space."""
    out = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\x1b":
            i += 1
            if i < n and text[i] == "[":  # CSI: parameters, then a final byte
                i += 1
                while i < n and not ("@" <= text[i] <= "~"):
                    i += 1
            elif i < n and text[i] == "]":  # OSC (a window title…): up to BEL or ESC \\
                while i < n and text[i] not in "\x07\x1b":
                    i += 1
                i += text.startswith("\x1b\\", i)
            else:  # ESC, intermediate bytes, a final byte (a character set…)
                while i < n and " " <= text[i] <= "/":
                    i += 1
            i += 1
            continue
        if ch == "\t":
            out.append(" ")
        elif ch >= " " and ch != "\x7f" and not ("\udc80" <= ch <= "\udcff"):
            out.append(ch)
        i += 1
    return "".join(out)


def _cut(line: str, width: int) -> str:
    """``line`` with at most ``width`` visible columns; escape sequences are kept and take
    none, wide characters take two, combining ones none."""
    from unicodedata import combining, east_asian_width

    out = []
    used = 0
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch == "\x1b":
            j = i + 1
            if j < n and line[j] == "[":
                j += 1
                while j < n and not ("@" <= line[j] <= "~"):
                    j += 1
            out.append(line[i:j + 1])
            i = j + 1
            continue
        w = 0 if combining(ch) else (2 if east_asian_width(ch) in "WF" else 1)
        if used + w > width:
            break
        out.append(ch)
        used += w
        i += 1
    return "".join(out)

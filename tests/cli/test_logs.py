"""The renderers of ``nixlite.cli.logs`` on their own: Nix's figures and sizes on the bar,
lines cut to narrow terminals, builders' escapes kept off it, non-UTF-8 locales, JSON."""

from __future__ import annotations

import io
import json
import re

from nixlite.activity import ActivityType, Verbosity
from nixlite.cli import logs
from nixlite.cli.renderers import BarLogger, JSONLogger, _cut, _printable, _sizes


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def bar(**options) -> BarLogger:
    return BarLogger(io.StringIO(), Verbosity.INFO, False, colour=False, **options)


def test_sizes_share_a_unit_as_nix_renders_them():
    # today's Nix's renderSizeWithoutUnit (2.8 showed every size in MiB): bytes are shown as
    # KiB; one unit when all share it
    assert _sizes([0, 100]) == (["0.0", "0.1"], " KiB")
    assert _sizes([1024 * 1024, 1024 * 1024]) == (["1024.0", "1024.0"], " KiB")
    assert _sizes([1100 * 1024, 3 << 20]) == (["1.1", "3.0"], " MiB")
    assert _sizes([100, 1024 * 1024]) == (["0.1 KiB", "1024.0 KiB"], "")
    assert _sizes([2100 << 30]) == (["2.1"], " TiB")


def test_status_counts_builds_copies_and_downloads():
    b = bar()
    realise = b.activity(ActivityType.REALISE)
    realise.set_expected(ActivityType.COPY_PATH, 3 << 20)
    builds = realise.child(ActivityType.BUILDS)
    builds.progress(1, 5, 2, 0)
    copies = realise.child(ActivityType.COPY_PATHS)
    copies.progress(1, 2, 1, 0)
    sub = realise.child(ActivityType.SUBSTITUTE, fields=("/nix/store/abc-hello-2.12", "https://c.org"))
    copy = sub.child(ActivityType.COPY_PATH, "copying path", ("/nix/store/abc-hello-2.12", "https://c.org", "local"))
    copy.progress(1100 << 10, 2 << 20)
    download = copy.child(ActivityType.FILE_TRANSFER, "downloading", ("https://c.org/nar/x",))
    download.progress(512 << 10, 0)
    line = b.render()
    status, shown = line.split("] ", 1)
    assert status.startswith("[2/1/5 built, 1/1/2 copied (1.1/3.0 MiB), 512.0 KiB DL, ")
    assert re.search(r", [0-9.]+ [KM]iB/s$", status)  # bytes were downloaded just now
    assert shown == "fetching hello-2.12 from https://c.org"  # the copy and download are its parts
    build = builds.child(ActivityType.BUILD, "building", ("/nix/store/xyz-hello-2.12.drv", "", 1, 1))
    build.phase("writing layer 2 of 5")
    build.log_line("\x1b[1mcompiling\x1b[0m\tmain.c\r")
    assert b.render().endswith("] building hello-2.12 (writing layer 2 of 5): compiling main.c")
    for act in (build, download, copy, sub, copies, builds):
        act.stop()
    assert b.render().startswith("[1 built, 1 copied (1.1/3.0 MiB), 512.0 KiB DL")
    realise.stop()
    b.stop()


def test_failures_and_the_newest_activity():
    b = bar()
    builds = b.activity(ActivityType.BUILDS)
    builds.progress(1, 3, 0, 1)
    first = b.activity(ActivityType.BUILD, "", ("/nix/store/a-one.drv", "", 1, 1))
    second = b.activity(ActivityType.BUILD, "", ("/nix/store/b-two.drv", "", 1, 1))
    assert b.render() == "[1/3 built (1 failed)] building two"
    first.log_line("news")  # the activity with the newest line is shown
    assert b.render() == "[1/3 built (1 failed)] building one: news"
    first.stop()
    second.stop()
    builds.stop()
    b.stop()


def test_lines_fit_narrow_terminals_and_wide_characters():
    assert _cut("\x1b[1mabcdef\x1b[0m", 3) == "\x1b[1mabc"
    assert _cut("日本語テキスト", 5) == "日本"  # two columns each
    assert _cut("e\u0301e\u0301e\u0301", 2) == "e\u0301e\u0301"  # combining accents take none
    b = bar()
    act = b.activity(ActivityType.BUILD, "", ("/nix/store/a-" + "x" * 100 + ".drv", "", 1, 1))
    for width in (1, 2, 5, 20):  # the last column stays free: the line never wraps
        assert len(b.render(width)) == width - 1
    act.stop()
    b.stop()


def test_builder_escapes_never_reach_the_bar():
    assert _printable("\x1b]0;title\x07ok\x1b[2Jfine\x00\x7f") == "okfine"
    assert _printable("\x1b]2;t\x1b\\a\x1b(Bb") == "ab"
    assert _printable("bad \udcff byte") == "bad  byte"


def test_non_utf8_terminals_get_ascii():
    b = bar(ascii_only=True)
    act = b.activity(ActivityType.BUILD, "", ("/nix/store/a-x.drv", "", 1, 1))
    act.log_line("naïve ✓")
    assert b.render().endswith("building x: na?ve ?")
    act.stop()
    b.stop()
    assert not logs._utf8_terminal({"LANG": "C"}) and logs._utf8_terminal({"LANG": "en_US.UTF-8"})
    assert logs._utf8_terminal({"LC_ALL": "de_DE.utf8", "LANG": "C"})


def test_format_chosen_as_nix_does():
    assert logs.choose_format(None, Tty(), {"TERM": "xterm"}) == "bar"
    assert logs.choose_format(None, Tty(), {"TERM": "xterm", "CI": "true"}) == "raw"
    assert logs.choose_format(None, Tty(), {"TERM": "dumb"}) == "raw"
    assert logs.choose_format(None, io.StringIO(), {}) == "raw"
    assert logs.choose_format("bar", io.StringIO(), {"CI": "1"}) == "bar"  # asked for
    assert logs.choose_format("json", Tty(), {}) == "internal-json"


def test_internal_json_lines():
    out = io.StringIO()
    j = JSONLogger(out, Verbosity.INFO)
    act = j.activity(ActivityType.BUILD, "building 'x'", ("/nix/store/a-x.drv", "", 1, 1),
                     level=Verbosity.INFO)
    act.log_line("bytes \udcff here")
    act.progress(1, 10)
    act.progress(2, 10)  # within a tenth of a second of the last: left out
    act.progress(10, 10)  # the last one never is
    j.log(Verbosity.TALKATIVE, "not at this verbosity")
    act.stop()
    lines = [json.loads(line[5:]) for line in out.getvalue().splitlines()]
    assert lines[0] == {"action": "start", "id": act.id, "level": 3, "type": 105, "parent": 0,
                        "text": "building 'x'", "fields": ["/nix/store/a-x.drv", "", 1, 1]}
    assert lines[1] == {"action": "result", "id": act.id, "type": 101, "fields": ["bytes \ufffd here"]}
    assert [line["fields"] for line in lines[2:4]] == [[1, 10, 0, 0], [10, 10, 0, 0]]
    assert lines[4:] == [{"action": "stop", "id": act.id}]
    assert act.id >> 32 == __import__("os").getpid()  # Nix's ids: the pid above a counter


def test_messages_go_above_the_bar_and_leave_no_colour_on():
    out = io.StringIO()
    b = BarLogger(out, Verbosity.INFO, False, colour=True)
    act = b.activity(ActivityType.BUILD, "building 'x'", ("/nix/store/a-x.drv", "", 1, 1),
                     level=Verbosity.INFO)
    with b._lock:
        b._draw()  # what the drawing thread does
    b.log(Verbosity.INFO, "a message")
    b.log(Verbosity.TALKATIVE, "not at this verbosity")
    act.stop()
    b.stop()
    frame = "building \x1b[1mx\x1b[0m\x1b[0m"
    assert out.getvalue() == (
        "\r\x1b[Kbuilding 'x'...\n"               # the activity's text, as nix-build's
        + "\r\x1b[K" + frame                        # the bar
        + "\r\x1b[Ka message\n" + frame             # a message over it, the bar again
        + "\r\x1b[K")                               # the last state has no activity: erased

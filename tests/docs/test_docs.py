"""The examples in README.md and docs/*.md, run as a user would run them.

The convention (docs/README.md says it for writers):

- A fenced ```` ```console ```` block is a transcript: a line starting with ``$ `` is a
  command (a trailing `` \\`` continues it on the next line), the lines after it are what
  it prints, standard output and standard error together, as on a terminal.  A command
  that fails ends its output with ``[exit N]``.
- In expected output, a line that is just ``...`` stands for any number of lines, and
  ``…`` inside a line for any text on that line: use them only where the value is
  genuinely the machine's (host package versions, temporary paths, timings).  White
  space at the ends of lines is not compared.
- ``<!-- docs-test: file NAME -->`` right before any fenced block writes the block to NAME
  in the example directory, for the commands after it.
- ``<!-- docs-test: needs nixlite SUB [--FLAG] -->`` right before a block: it runs only
  when ``nixlite --help`` lists SUB (and ``nixlite SUB --help`` lists FLAG); until then
  its test is skipped, saying which command it waits for.
- ``<!-- docs-test: skip REASON -->`` right before a block: never run (needs the network,
  Docker, …); its test is skipped with REASON.

Each Markdown file is one session: its blocks run in order in one fresh directory with
its own store (``NIXLITE_STORE``), cache and home, no Nix configuration from the machine
and no substituters, so later examples see what earlier ones built.  Each block is a
test of its own (``README.md:42``); the file's session runs once per test process.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_MARKER = re.compile(r"<!--\s*docs-test:\s*(file|needs|skip)\s+(.*?)\s*-->")
_FENCE = re.compile(r"^(`{3,})\s*([\w-]*)")
_EXIT = re.compile(r"\[exit (\d+)\]\Z")


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    body: str
    file: str | None = None  # docs-test: file NAME
    needs: str | None = None  # docs-test: needs nixlite SUB [--FLAG]
    skip: str | None = None  # docs-test: skip REASON

    @property
    def id(self) -> str:
        return f"{self.doc.name}:{self.line}"

    def commands(self) -> list[Command]:
        out: list[Command] = []
        continuing = False
        for line in self.body.splitlines():
            if continuing:
                out[-1].text += "\n" + line
                continuing = line.endswith("\\")
            elif line.startswith("$ "):
                out.append(Command(line[2:]))
                continuing = line.endswith("\\")
            elif out:
                out[-1].expected.append(line)
            elif line.strip():
                raise ValueError(f"{self.id}: output before the first '$ ' command")
        return out


def parse_blocks(doc: Path) -> list[Block]:
    """The fenced blocks of a Markdown file with the markers that precede them."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    markers: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.search(line)
        fence = _FENCE.match(line)
        if marker:
            markers[marker.group(1)] = marker.group(2)
        elif fence:
            ticks, lang = fence.groups()
            start = i
            i += 1
            body = []
            while i < len(lines) and not lines[i].startswith(ticks):
                body.append(lines[i])
                i += 1
            blocks.append(Block(doc, start + 1, lang, "\n".join(body) + "\n", markers.get("file"),
                                markers.get("needs"), markers.get("skip")))
            markers = {}
        elif line.strip():
            markers = {}  # a marker applies only to the block right after it
        i += 1
    return blocks


def example_blocks() -> list[Block]:
    return [b for doc in DOCS for b in parse_blocks(doc) if b.lang == "console" or b.file]


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether output lines match the expected ones (``...`` lines, ``…`` in a line);
    white space at the ends of lines is not compared (editors strip it)."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line == "..." else
        ".*?".join(re.escape(part) for part in line.rstrip().split("…")) + r"\n"
        for line in expected)
    return re.fullmatch(pattern, "".join(line.rstrip() + "\n" for line in actual)) is not None


@functools.cache
def _help(*argv: str) -> str:
    return subprocess.run([sys.executable, "-m", "nixlite", *argv, "--help"], capture_output=True,
                          text=True).stdout


def missing_feature(needs: str) -> str | None:
    """What of ``nixlite SUB [--FLAG]`` this nixlite lacks, or None."""
    words = needs.split()
    if words[:1] != ["nixlite"] or len(words) < 2:
        raise ValueError(f"bad 'needs' marker {needs!r}: expected 'nixlite SUBCOMMAND [--FLAG]'")
    sub, flags = words[1], words[2:]
    listed = re.findall(r"^    (\S+)", _help(), re.M)
    if sub not in listed:
        return f"nixlite has no '{sub}' command yet"
    for flag in flags:
        if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", _help(sub)):
            return f"'nixlite {sub}' has no {flag} yet"
    return None


def _environment(tmp: Path) -> dict[str, str]:
    """A user's shell with nothing of this machine's Nix or nixlite state in it."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "nixlite"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m nixlite \"$@\"\n")
    wrapper.chmod(0o755)
    for d in ("home", "tmp", "etc-nix", "config"):
        (tmp / d).mkdir()
    keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "PYTHONPATH")}
    return dict(keep, PATH=f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", HOME=str(tmp / "home"),
                TMPDIR=str(tmp / "tmp"), NIXLITE_STORE=str(tmp / "store"),
                NIXLITE_CACHE_DIR=str(tmp / "cache"), NIX_CONF_DIR=str(tmp / "etc-nix"),
                XDG_CONFIG_HOME=str(tmp / "config"), XDG_CONFIG_DIRS=str(tmp / "config"),
                NIX_CONFIG="substituters =", TERM="dumb")


@dataclass
class Outcome:
    failure: str | None = None
    skipped: str | None = None


def run_block(block: Block, work: Path, env: dict[str, str]) -> Outcome:
    if block.skip:
        return Outcome(skipped=block.skip)
    if block.needs and (missing := missing_feature(block.needs)):
        return Outcome(skipped=f"waits for `{block.needs}`: {missing}")
    if block.file:
        (work / block.file).parent.mkdir(parents=True, exist_ok=True)
        (work / block.file).write_text(block.body)
    if block.lang != "console":
        return Outcome()
    for command in block.commands():
        expected, status = list(command.expected), 0
        while expected and not expected[-1].strip():
            expected.pop()
        if expected and (m := _EXIT.match(expected[-1])):
            status = int(m.group(1))
            expected.pop()
        proc = subprocess.run(["bash", "-c", command.text], cwd=work, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        actual = proc.stdout.decode("utf-8", "replace").splitlines()
        while actual and not actual[-1].strip():
            actual.pop()
        if proc.returncode != status or not matches(expected, actual):
            return Outcome(failure=(
                f"{block.id}: $ {command.text}\nexit status {proc.returncode} (expected {status})\n"
                "--- expected\n" + "\n".join(expected) + "\n--- actual\n" + "\n".join(actual)))
    return Outcome()


@functools.cache
def session(doc: Path, tmp: Path) -> dict[int, Outcome]:
    """Run every example block of one Markdown file in order; outcomes by opening line."""
    env = _environment(tmp)
    work = tmp / "work"
    work.mkdir()
    return {b.line: run_block(b, work, env) for b in parse_blocks(doc)
            if b.lang == "console" or b.file}


@pytest.fixture(scope="session")
def sessions_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("docs")


@pytest.mark.parametrize("block", example_blocks(), ids=lambda b: b.id)
def test_example(block, sessions_dir):
    tmp = sessions_dir / block.doc.name
    tmp.mkdir(exist_ok=True)
    outcome = session(block.doc, tmp)[block.line]
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    if outcome.failure:
        pytest.fail(outcome.failure, pytrace=False)


# --------------------------------------------------------------- the convention itself


def test_matching_placeholders():
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "d"], ["a", "d"])
    assert matches(["/nix/store/…-bash-…"], ["/nix/store/abc-bash-5.2.15"])
    assert not matches(["/nix/store/…-bash"], ["/nix/store/abc-bash", "extra"])
    assert not matches(["a", "b"], ["a", "c"])
    assert not matches(["x…"], ["y"])
    assert matches(["a\t1"], ["a\t1\t"])  # trailing white space is not compared


def test_markers_and_transcripts(tmp_path):
    doc = tmp_path / "t.md"
    doc.write_text("<!-- docs-test: file a.nix -->\n```nix\n1 + 1\n```\n\ntext\n\n"
                   "<!-- docs-test: skip no network here -->\n```console\n$ nixlite eval \\\n"
                   "  a.nix\n2\n$ false\n[exit 1]\n```\n")
    file_block, console = parse_blocks(doc)
    assert (file_block.file, file_block.body) == ("a.nix", "1 + 1\n")
    assert console.skip == "no network here" and console.file is None
    commands = console.commands()
    assert [c.text for c in commands] == ["nixlite eval \\\n  a.nix", "false"]
    assert [c.expected for c in commands] == [["2"], ["[exit 1]"]]


def test_every_console_block_is_a_test():
    """No ```console block escapes the test by a typo in its fence or marker."""
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        assert text.count("```console") == sum(1 for b in parse_blocks(doc) if b.lang == "console"), doc
        for marker in re.findall(r"<!--\s*docs-test:.*?-->", text):
            assert _MARKER.fullmatch(marker), f"{doc.name}: malformed marker {marker}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_links_lead_somewhere():
    """Every relative link in the docs names a file that exists and, with #anchor, a
    heading of it."""
    for doc in DOCS:
        text = re.sub(r"^(`{3,}).*?^\1", "", doc.read_text(encoding="utf-8"), flags=re.M | re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # an external URL
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            assert file.exists(), f"{doc.name}: link to missing {target}"
            if anchor:
                headings = re.findall(r"^#+ (.*)$", file.read_text(encoding="utf-8"), re.M)
                assert anchor in {_slug(h) for h in headings}, f"{doc.name}: no heading for {target}"

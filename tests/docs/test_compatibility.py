"""docs/compatibility.md against the code: its tables may only say what is true.

- Builtins: every builtin nixlite defines (the registry and the names of `builtins`) has a
  row, and a row says present (anything but *missing*) exactly when nixlite defines it.
- nix-instantiate/nix-build flags: each row names exactly the commands (eval,
  instantiate, build) whose parser accepts the flag, and every flag those parsers accept
  has a row.
- Settings: a setting marked honoured is one nixlite reads; every one it reads is listed.
- dockerTools: each argument cell says accepted (✓, *ignored*) exactly when the
  function's formals (`builtins.functionArgs`, evaluated by nixlite) hold it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "compatibility.md"
NIXPKGS = ROOT / "nixlite" / "pkgs"  # nixlite's own package set, whatever NIX_PATH says
EVAL_COMMANDS = ("eval", "instantiate", "build")


def section_rows(heading: str) -> list[list[str]]:
    """The body rows of the tables under ``## heading`` (cells stripped), header rows and
    separators left out; a new table's header is the row before its separator."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/compatibility.md has no section '## {heading}'"
    lines = [line for line in match.group(1).splitlines() if line.startswith("|")]
    rows, i = [], 0
    while i < len(lines):
        if i + 1 < len(lines) and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1]):
            rows.append(None)  # a table starts: its header follows as the next row
            rows.append(_cells(lines[i]))
            i += 2
            continue
        rows.append(_cells(lines[i]))
        i += 1
    return rows


def _cells(line: str) -> list[str]:
    # split on | not escaped as \|
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def tables(heading: str) -> list[tuple[list[str], list[list[str]]]]:
    """(header, body rows) of each table under the heading."""
    out: list[tuple[list[str], list[list[str]]]] = []
    rows = section_rows(heading)
    i = 0
    while i < len(rows):
        if rows[i] is None:
            out.append((rows[i + 1], []))
            i += 2
        else:
            out[-1][1].append(rows[i])
            i += 1
    return out


def code_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# ------------------------------------------------------------------------------ builtins


def test_builtins_table_is_complete_and_true():
    from nixlite.eval.builtins import load_all
    from nixlite.resolve.globals import BUILTINS_ATTR_NAMES

    defined = set(load_all()) | set(BUILTINS_ATTR_NAMES)
    (header, rows), = tables("Builtins")
    status = {}
    for row in rows:
        (name,) = code_names(row[0])
        assert name not in status, f"builtin {name} listed twice"
        status[name] = row[1]
    unlisted = defined - set(status)
    assert not unlisted, f"builtins nixlite defines but docs/compatibility.md does not list: {sorted(unlisted)}"
    for name, word in status.items():
        assert word in ("yes", "today", "gated", "differs", "missing"), f"{name}: status {word!r}"
        # a missing one may still be a name that refuses (test_missing_builtins_refuse)
        if word != "missing":
            assert name in defined, f"{name} is listed as present but nixlite does not define it"


def test_missing_builtins_refuse(tmp_path):
    """What the table calls missing really fails when used."""
    (header, rows), = tables("Builtins")
    for row in rows:
        if row[1] != "missing":
            continue
        (name,) = code_names(row[0])
        proc = subprocess.run([sys.executable, "-m", "nixlite", "eval", "--store", str(tmp_path),
                               "--extra-experimental-features", "flakes", "-E", f"builtins.{name} {{}}"],
                              capture_output=True, text=True)
        assert proc.returncode == 1 and proc.stderr.startswith("error: "), (name, proc.stderr)


# ------------------------------------------------------------------------- CLI flags


def _accepted_flags() -> dict[str, set[str]]:
    from nixlite.cli import build_parser

    out = {}
    for command in EVAL_COMMANDS:
        parser = build_parser(command)
        sub = next(a for a in parser._actions if a.choices and command in a.choices).choices[command]
        out[command] = {o for a in sub._actions for o in a.option_strings} - {"-h", "--help"}
    return out


def test_flag_table_names_the_commands_that_accept_each_flag():
    accepted = _accepted_flags()
    listed: set[str] = set()
    (header, rows), = tables("nix-instantiate and nix-build flags")
    for row in rows:
        flags, commands = code_names(row[0]), row[1]
        expected = set() if commands == "—" else {c.strip() for c in commands.split(",")}
        assert expected <= set(EVAL_COMMANDS), row
        for flag in flags:
            really = {c for c in EVAL_COMMANDS if flag in accepted[c]}
            assert really == expected, f"{flag}: the table says {sorted(expected)}, nixlite accepts it in {sorted(really)}"
            listed.add(flag)
        if not expected:
            assert row[2].split(":")[0] in ("missing", "coming"), row
    unlisted = set().union(*accepted.values()) - listed
    assert not unlisted, f"flags nixlite accepts that docs/compatibility.md does not list: {sorted(unlisted)}"


# --------------------------------------------------------------------------- settings


def test_settings_table_marks_exactly_what_nixlite_reads():
    from nixlite.cli.evaluation import _STORE_SETTINGS
    from nixlite.eval.settings import _KINDS
    from nixlite.store.settings import DEFAULTS

    read = {k.replace("_", "-") for k in _KINDS} | {"experimental-features"} | set(DEFAULTS) | _STORE_SETTINGS
    (header, rows), = tables("Nix settings")
    marked: dict[str, str] = {}
    for row in rows:
        for name in code_names(row[0]):
            marked[name] = row[1]
    honoured = {n for n, s in marked.items() if s in ("yes", "today")}
    assert honoured == read, (f"listed as honoured but not read: {sorted(honoured - read)}; "
                              f"read but not listed as honoured: {sorted(read - honoured)}")
    assert all(s in ("yes", "today", "ignored") for s in marked.values()), marked


# ------------------------------------------------------------------------- dockerTools


@pytest.fixture(scope="module")
def eval_json(tmp_path_factory):
    """Evaluate an expression with nixlite (its own package set, a temporary store)."""
    store = tmp_path_factory.mktemp("store")

    def run(expr: str):
        proc = subprocess.run([sys.executable, "-m", "nixlite", "eval", "--strict", "--json", "--store",
                               str(store), "-I", f"nixpkgs={NIXPKGS}", "-E", expr],
                              capture_output=True, text=True, check=True)
        return json.loads(proc.stdout)
    return run


@pytest.fixture(scope="module")
def dockertools_formals(eval_json) -> dict[str, list[str]]:
    """``builtins.functionArgs`` of each dockerTools function, as nixlite evaluates them."""
    formals = eval_json(
        "let d = (import <nixpkgs> {}).dockerTools; in builtins.mapAttrs "
        "(n: f: builtins.attrNames (builtins.functionArgs f)) "
        "{ inherit (d) buildImage streamLayeredImage buildLayeredImage pullImage exportImage mergeDrvs; }")
    # buildLayeredImage passes what it does not name on to streamLayeredImage
    formals["buildLayeredImage"] = sorted(set(formals["buildLayeredImage"]) | set(formals["streamLayeredImage"]))
    return formals


def test_dockertools_arguments_are_the_functions_formals(dockertools_formals):
    seen: dict[str, set[str]] = {}
    for header, rows in tables("dockerTools")[1:]:  # the first table lists the functions
        functions = [code_names(h)[0] if code_names(h) else None for h in header[1:]]
        for row in rows:
            for col, function in enumerate(functions, start=1):
                if function is None:
                    continue
                cell = row[col]
                assert cell in ("✓", "*ignored*", "*missing*", "—"), (row, cell)
                for arg in code_names(row[0]):
                    takes = arg in dockertools_formals[function]
                    assert takes == (cell in ("✓", "*ignored*")), \
                        f"{function} {arg}: the table says {cell}, nixlite {'takes' if takes else 'lacks'} it"
                    if takes:
                        seen.setdefault(function, set()).add(arg)
    for function, formals in dockertools_formals.items():
        missing = set(formals) - seen.get(function, set())
        assert not missing, f"{function} takes {sorted(missing)}, which docs/compatibility.md does not list"


def test_dockertools_functions_listed(eval_json):
    (header, rows), *_ = tables("dockerTools")
    listed = {name: row[1] for row in rows for name in code_names(row[0])}
    present = set(eval_json("builtins.attrNames (import <nixpkgs> {}).dockerTools"))
    assert {n for n, s in listed.items() if s != "missing"} == present


def test_guide_lists_the_image_functions_nixlite_has(eval_json):
    """The guide's table of dockerTools functions (the image-making ones: the rest are
    helpers) names every function the package set has, so none is thought missing."""
    guide = (ROOT / "docs" / "guide.md").read_text()
    table = guide[guide.index("| function | gives"):]
    table = table[:table.index("\n\n")]
    listed = {name for line in table.splitlines()[2:] for name in code_names(line.split("|")[1])}
    present = set(eval_json("builtins.attrNames (import <nixpkgs> {}).dockerTools"))
    makers = {name for name in present if name.endswith(("Image", "Images"))}
    assert makers - listed == set()

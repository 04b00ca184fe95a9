"""The shipped LALR tables are those Lark builds from grammar/nix.lark, and running the
parser needs no Lark."""

import subprocess
import sys

from nixlite.syntax import build_tables


def test_shipped_tables_match_the_grammar():
    # stale after a grammar edit: run `python -m nixlite.syntax.build_tables`
    expected = build_tables.render(build_tables.GRAMMAR_PATH.read_text())
    assert build_tables.TABLES_PATH.read_text() == expected


def test_parsing_imports_no_lark():
    code = ("import sys; from nixlite.syntax import parse; parse('let a = 1; in a'); "
            "print([m for m in sys.modules if m.split('.')[0] == 'lark'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout == "[]\n"

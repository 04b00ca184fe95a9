"""Which builtins coerce their arguments to strings and which require one, against
``nix-instantiate`` 2.8: each string-taking argument gets values that coerce (sets
with ``outPath`` or ``__toString``) and values that do not (an integer, a list).  The verdict and the printed value must agree; errors must be of the same
kind (coercion or type), since today's Nix rewords type errors
(``expected a string but found …``, 2.8: ``value is … while a string was expected``).

Paths are left out: coercing one copies it into the store, which the evaluation tests
do not do.  Builtins that today's Nix changed since 2.8 are not here: ``sort`` of an
empty list no longer forces the comparator, ``genList`` forces its function even for
length 0, ``addDrvOutputDependencies`` and ``convertHash`` are new."""

from __future__ import annotations

import re

import pytest

# (floats, null and Booleans fail exactly as integers do; one of each kind suffices)
ARGUMENTS = ['{ outPath = "/o"; }', '{ __toString = self: "t"; }', "1", '[ "a" ]']

# X is where the argument goes
TEMPLATES = [
    "builtins.stringLength X", "builtins.unsafeDiscardStringContext X",
    "builtins.unsafeDiscardOutputDependency X", "builtins.hasContext X", "builtins.getContext X",
    "builtins.baseNameOf X", "builtins.dirOf X", "builtins.toString X", "builtins.parseDrvName X",
    "builtins.splitVersion X", "builtins.fromJSON X", "builtins.fromTOML X", "builtins.getEnv X",
    "builtins.placeholder X", 'builtins.compareVersions X "1"', 'builtins.compareVersions "1" X',
    "builtins.hasAttr X { }", "builtins.getAttr X { t = 1; }", 'builtins.hashString "sha256" X',
    'builtins.hashString X "a"', 'builtins.match X "a"', 'builtins.match "a" X',
    'builtins.split "a" X', 'builtins.split X "a"', "builtins.substring 0 1 X",
    'builtins.concatStringsSep X [ "a" "b" ]', 'builtins.concatStringsSep "," [ X ]',
    'builtins.replaceStrings [ "a" ] [ "b" ] X', 'builtins.replaceStrings [ X ] [ "b" ] "a"',
    'builtins.replaceStrings [ "a" ] [ X ] "a"', "builtins.unsafeGetAttrPos X { }",
    "builtins.removeAttrs { } [ X ]", "builtins.listToAttrs [ { name = X; value = 1; } ]",
    "builtins.throw X", "builtins.abort X", "builtins.appendContext X { }",
    "builtins.catAttrs X [ ]", "builtins.toJSON X", "builtins.toXML X",
    'builtins.derivation { name = X; builder = "/b"; system = "s"; }',
    '(derivation { name = "n"; builder = X; system = "s"; }).drvPath',
    '(derivation { name = "n"; builder = "b"; system = "s"; a = X; }).drvPath',
    "builtins.findFile [ ] X", 'builtins.findFile [ { prefix = X; path = "/"; } ] "a"',
]

CASES = [t.replace("X", f"({a})") for t in TEMPLATES for a in ARGUMENTS]


def _kind(message: str) -> str:
    """An error's kind: a failed coercion, a type error naming the type, or the text."""
    if "cannot coerce" in message:
        return "coerce"
    m = re.search(r"while (an? \w+) was expected|expected (an? \w+) but found", message)
    return f"type: {m.group(1) or m.group(2)}" if m else message


@pytest.mark.nix
def test_string_arguments_coerce_as_in_nix(nix_batch, nl_eval):
    ours = {expr: nl_eval(expr) for expr in CASES}
    # what nixlite accepts runs in one Nix process (one per case only if Nix disagrees)
    nix = dict(nix_batch([e for e in CASES if ours[e][0]]))
    nix.update(nix_batch([e for e in CASES if not ours[e][0]], expect_ok=False))
    differ = []
    for expr in CASES:
        ok, text = ours[expr]
        theirs = nix[expr]
        if (ok, text if ok else _kind(text)) != (theirs.ok, theirs.out if theirs.ok else _kind(theirs.message)):
            differ.append((expr, text, theirs.out or theirs.message))
    assert differ == []


def test_discarding_context_coerces(nl_eval):
    """nixpkgs 22.05's lib tests discard the context of a derivation-like set."""
    drv_like = '{ outPath = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"; }'
    for name in ("unsafeDiscardStringContext", "unsafeDiscardOutputDependency"):
        assert nl_eval(f"builtins.{name} {drv_like}") == (
            True, '"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x"')
        assert nl_eval(f"builtins.{name} 1") == (False, "cannot coerce an integer to a string: 1")

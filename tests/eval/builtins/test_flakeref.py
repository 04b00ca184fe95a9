"""``parseFlakeRef``/``flakeRefToString``: today's Nix only (2.8 lacks them), so the
expected values are the Nix manual's example and the URL forms its flake reference
documentation gives; every parsed reference must print back to itself."""

from __future__ import annotations

import pytest

REV = "0123456789abcdef0123456789abcdef01234567"

PARSED = {
    "github:NixOS/nixpkgs/23.05?dir=lib":  # the manual's example
        '{ dir = "lib"; owner = "NixOS"; ref = "23.05"; repo = "nixpkgs"; type = "github"; }',
    f"github:a/b/{REV}": f'{{ owner = "a"; repo = "b"; rev = "{REV}"; type = "github"; }}',
    "gitlab:o/r?host=gl.example.org": '{ host = "gl.example.org"; owner = "o"; repo = "r"; type = "gitlab"; }',
    "flake:nixpkgs/unstable": '{ id = "nixpkgs"; ref = "unstable"; type = "indirect"; }',
    "git+https://example.org/r.git?ref=main&submodules=1":
        '{ ref = "main"; submodules = true; type = "git"; url = "https://example.org/r.git"; }',
    "path:/srv/flake?lastModified=5": '{ lastModified = 5; path = "/srv/flake"; type = "path"; }',
    "https://example.org/x.tar.gz": '{ type = "tarball"; url = "https://example.org/x.tar.gz"; }',
    "https://example.org/x": '{ type = "file"; url = "https://example.org/x"; }',
}


@pytest.mark.parametrize("ref", list(PARSED))
def test_parse_and_print_back(ref, nixlite_eval):
    flakes = ["--extra-experimental-features", "flakes", "--strict"]
    expr = f'let p = builtins.parseFlakeRef "{ref}"; in [ p (builtins.flakeRefToString p) ]'
    assert nixlite_eval([*flakes, "-E", expr]) == (0, f'[ {PARSED[ref]} "{ref}" ]\n', "")


def test_short_forms(nixlite_eval):
    flakes = ["--extra-experimental-features", "flakes", "--strict"]
    assert nixlite_eval([*flakes, "-E", 'builtins.parseFlakeRef "nixpkgs/unstable"']) == (
        0, '{ id = "nixpkgs"; ref = "unstable"; type = "indirect"; }\n', "")
    assert nixlite_eval([*flakes, "-E", 'builtins.parseFlakeRef "/srv/flake"']) == (
        0, '{ path = "/srv/flake"; type = "path"; }\n', "")


def test_only_with_the_flakes_feature(nixlite_eval):
    assert nixlite_eval(["-E", "builtins ? parseFlakeRef || builtins ? flakeRefToString"]) == (0, "false\n", "")


def test_bad_attribute_values(nixlite_eval):
    flakes = ["--extra-experimental-features", "flakes"]
    rc, _, err = nixlite_eval([*flakes, "-E", 'builtins.flakeRefToString { type = "github"; x = [ ]; }'])
    assert rc == 1 and err.startswith(
        "error: flake reference attribute sets may only contain integers, Booleans, and strings, "
        "but attribute 'x' is a list")
    rc, _, err = nixlite_eval([*flakes, "-E", 'builtins.flakeRefToString { type = "path"; lastModified = -1; }'])
    assert rc == 1 and err.startswith("error: negative value given for flake ref attr lastModified: -1")

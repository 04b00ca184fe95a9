"""nixlite's lib against nixpkgs 17.09's, evaluated by the reference Nix: the same
expressions must give the same values. Functions 17.09 lacks, or whose behaviour changed
since, are checked against today's documented results instead (both evaluators)."""

from __future__ import annotations

import json

import pytest

# Each expression sees `lib`; values must be JSON-printable.
SAME_AS_1709 = [
    'lib.optional true 1 ++ lib.optional false 2',
    'lib.optionals true [ 1 2 ] ++ lib.optionals false [ 3 ]',
    'lib.optionalString true "a" + lib.optionalString false "b"',
    'lib.optionalAttrs true { a = 1; } // lib.optionalAttrs false { b = 2; }',
    'lib.concatMapStringsSep ", " (x: "<${x}>") [ "a" "b" "c" ]',
    'lib.concatStringsSep "/" [ "usr" "local" "bin" ]',
    'lib.concatImapStringsSep "-" (i: x: "${toString i}${x}") [ "a" "b" ]',
    'lib.intersperse "/" [ "usr" "local" "bin" ]',
    'map lib.toLower [ "ABC" "Hello World" "" "ÄB" ]',
    'map lib.toUpper [ "abc" "Hello World" "" ]',
    'lib.splitString "." "1.2.3"',
    'lib.splitString "/" "/usr/local/bin/"',
    'lib.splitString ", " "a, b, c"',
    'lib.splitString "*" "a*b.c"',
    'map (lib.removePrefix "foo.") [ "foo.bar.baz" "xfoo.bar" "foo." ]',
    'map (lib.removeSuffix ".nix") [ "a.nix" "b.nixx" ".nix" ]',
    'map (lib.hasPrefix "ab") [ "abc" "a" "" "xab" ]',
    'map (lib.hasSuffix "bc") [ "abc" "c" "" ]',
    'lib.stringToCharacters "abc"',
    'lib.escape [ "(" ")" ] "(foo)"',
    'lib.fixedWidthString 5 "0" "12"',
    'lib.fixedWidthNumber 4 7',
    'map lib.isStorePath [ "/nix/store/d945ibfx9x185xf04b890y4f9g3cbb63-python-2.7.11" "/nix/store/x" "x" ]',
    'map lib.toInt [ "1337" "-4" ]',
    'lib.makeBinPath [ "/a" "/b" ]',
    'lib.makeLibraryPath [ "/a" { out = "/o"; lib = "/l"; outputUnspecified = true; } ]',
    'lib.makeSearchPath "share/man" [ "/a" "/b" ]',
    'lib.versionOlder "1.2" "1.10"',
    'lib.versionAtLeast "2.0" "2.0"',
    'lib.getVersion "hello-2.10"',
    'lib.nameFromURL "https://example.org/foo-1.2.tar.gz" "-"',
    'lib.enableFeature true "shared" + " " + lib.enableFeature false "static"',
    'lib.replaceChars [ "a" ] [ "b" ] "aaa"',
    'lib.attrByPath [ "a" "b" ] 0 { a.b = 1; } + lib.attrByPath [ "a" "x" ] 5 { a.b = 1; }',
    'lib.hasAttrByPath [ "a" "b" ] { a.b = 1; }',
    'lib.setAttrByPath [ "a" "b" ] 3',
    'lib.getAttrFromPath [ "x" "y" ] { x.y = "z"; }',
    'lib.attrVals [ "a" "b" ] { a = 1; b = 2; c = 3; }',
    'lib.attrValues { b = 2; a = 1; }',
    'lib.catAttrs "a" [ { a = 1; } { b = 0; } { a = 2; } ]',
    'lib.filterAttrs (n: v: n == "foo") { foo = 1; bar = 2; }',
    'lib.filterAttrsRecursive (n: v: v != null) { a = 1; b = null; c = { d = null; e = 2; }; }',
    'lib.foldAttrs (n: a: [ n ] ++ a) [] [ { a = 2; } { a = 3; b = 1; } ]',
    'lib.collect builtins.isList { a = { b = [ "b" ]; }; c = [ 1 ]; }',
    'lib.nameValuePair "x" 1',
    'lib.mapAttrs (n: v: v * 2) { a = 1; b = 2; }',
    "lib.mapAttrs' (n: v: lib.nameValuePair \"foo_${n}\" (v + 1)) { x = 1; y = 2; }",
    'lib.mapAttrsToList (n: v: n + v) { x = "a"; y = "b"; }',
    'lib.mapAttrsRecursive (path: v: lib.concatStringsSep "-" (path ++ [ v ])) { n = { a = "A"; m = { b = "B"; }; }; }',
    'lib.genAttrs [ "foo" "bar" ] (name: "x_" + name)',
    'lib.zipAttrsWith (name: values: values) [ { a = "x"; } { a = "y"; b = "z"; } ]',
    'lib.zipAttrs [ { a = 1; } { a = 2; b = 3; } ]',
    'lib.recursiveUpdate { boot.loader.grub.enable = true; boot.loader.grub.device = "/dev/hda"; } { boot.loader.grub.device = ""; }',
    'lib.matchAttrs { cpu = { bits = 64; }; } { cpu = { bits = 64; family = "x86"; }; }',
    'lib.overrideExisting { a = 1; b = 2; } { b = 3; c = 4; }',
    'lib.isDerivation { type = "derivation"; } && !(lib.isDerivation {})',
    'lib.singleton 1',
    'lib.foldr (a: b: a + b) 0 [ 1 2 3 ]',
    'lib.foldl (a: b: a - b) 10 [ 1 2 3 ]',
    "lib.foldl' (a: b: a * b) 1 [ 2 3 4 ]",
    'lib.imap0 (i: v: "${v}-${toString i}") [ "a" "b" ]',
    'lib.imap1 (i: v: "${v}-${toString i}") [ "a" "b" ]',
    'lib.concatMap (x: [ x x ]) [ 1 2 ]',
    'lib.flatten [ 1 [ 2 [ 3 ] 4 ] 5 ]',
    'lib.remove 3 [ 1 3 4 3 ]',
    'lib.findSingle (x: x == 3) "none" "multiple" [ 1 3 3 ]',
    'lib.findFirst (x: x > 3) 7 [ 1 6 4 ]',
    'lib.any lib.isString [ 1 "a" ]',
    'lib.count (x: x == 1) [ 1 2 3 1 ]',
    'lib.toList [ 1 ] ++ lib.toList 2',
    'lib.range 2 4 ++ lib.range 3 2',
    'lib.partition (x: x > 2) [ 5 1 2 3 4 ]',
    'lib.zipListsWith (a: b: a + b) [ "h" "l" ] [ "e" "o" "x" ]',
    'lib.zipLists [ 1 2 ] [ "a" "b" ]',
    'lib.reverseList [ "b" "o" "j" ]',
    'lib.toposort (a: b: lib.hasPrefix a b) [ "/a/b/c" "/" "/a/b" "/a" ]',
    'lib.toposort (a: b: a == "x" && b == "y" || a == "y" && b == "x") [ "x" "y" ]',
    'lib.sort (a: b: a < b) [ 5 3 7 ]',
    'lib.take 2 [ "a" "b" "c" ] ++ lib.drop 2 [ "a" "b" "c" ]',
    'lib.sublist 1 3 [ "a" "b" "c" "d" "e" ]',
    'lib.last [ 1 2 3 ]',
    'lib.init [ 1 2 3 ]',
    'lib.crossLists (x: y: "${toString x}${toString y}") [ [ 1 2 ] [ 3 4 ] ]',
    'lib.unique [ 3 2 3 4 ]',
    'lib.intersectLists [ 1 2 3 ] [ 6 3 2 ]',
    'lib.subtractLists [ 3 2 ] [ 1 2 3 4 5 3 ]',
    'lib.mutuallyExclusive [ 1 2 ] [ 3 ]',
    'lib.id 1 + lib.const 2 3',
    'lib.flip lib.concat [ 1 ] [ 2 ]',
    'lib.boolToString true + lib.boolToString false',
    'lib.mergeAttrs { a = 1; } { b = 2; }',
    'lib.mapNullable (x: x + 1) null == null && lib.mapNullable (x: x + 1) 1 == 2',
    'lib.min 1 2 + lib.max 1 2 + lib.mod 11 4',
    '(lib.fix (self: { a = 1; b = self.a + 1; })).b',
    '(lib.fix (lib.extends (self: super: { b = super.a * 10; }) (self: { a = 2; c = self.b + 1; }))).c',
    '(lib.fix (lib.extends (lib.composeExtensions (self: super: { a = super.a + 1; }) (self: super: { a = super.a * 2; })) (self: { a = 1; }))).a',
    '(lib.makeExtensible (self: { a = 1; b = self.a + 1; })).extend (self: super: { a = 10; }) |> (x: x.b)',
    '(lib.makeOverridable ({ a, b ? 2 }: { sum = a + b; }) { a = 1; }).override { b = 10; } |> (x: x.sum)',
    '((lib.makeOverridable ({ a }: { v = a; }) { a = 1; }).override (old: { a = old.a + 5; })).v',
    '(lib.callPackageWith { a = 1; b = 2; c = 3; } ({ a, b, d ? 4 }: a + b + d) { b = 20; })',
    '((lib.callPackageWith { a = 1; } ({ a }: { r = a; }) {}).override { a = 7; }).r',
    '(lib.evalModules { modules = [ ({ lib, ... }: { options.x = lib.mkOption { type = lib.types.int; default = 1; }; }) { x = 3; } ]; }).config.x',
    '(lib.evalModules { modules = [ ({ lib, config, ... }: { options.a = lib.mkOption { type = lib.types.listOf lib.types.str; }; options.e = lib.mkOption { type = lib.types.bool; default = false; }; config.a = lib.mkIf config.e [ "on" ]; }) { a = [ "x" ]; e = true; } { a = lib.mkBefore [ "first" ]; } ]; }).config.a',
    '(lib.evalModules { modules = [ ({ lib, ... }: { options.s = lib.mkOption { type = lib.types.str; }; }) { s = lib.mkDefault "d"; } { s = lib.mkForce "f"; } { s = "n"; } ]; }).config.s',
    '(lib.evalModules { modules = [ ({ lib, ... }: { options.m = lib.mkOption { type = lib.types.attrsOf lib.types.int; default = {}; }; }) { m.a = 1; } { m.b = 2; } ]; }).config.m',
    '(lib.evalModules { modules = [ ({ lib, ... }: { options.l = lib.mkOption { type = lib.types.lines; }; }) { l = "a"; } { l = "b"; } ]; }).config.l',
    '(lib.evalModules { modules = [ ({ lib, ... }: { options.n = lib.mkOption { type = lib.types.nullOr lib.types.int; default = null; }; }) ]; }).config.n',
    '(lib.evalModules { modules = [ ({ lib, ... }: { options.sub = lib.mkOption { type = lib.types.submodule { options.x = lib.mkOption { type = lib.types.int; default = 5; }; }; default = {}; }; }) { sub.x = 6; } ]; }).config.sub.x',
    '(lib.evalModules { modules = [ ({ lib, ... }: { options.e = lib.mkEnableOption "x"; }) ]; }).config.e',
    'builtins.tryEval ((lib.evalModules { modules = [ { nope = 1; } ]; }).config.nope) |> (r: r.success)',
    'lib.types.str.check "a" && !lib.types.int.check "a" && (lib.types.enum [ "a" "b" ]).check "b"',
]

# Not in 17.09, or changed since: today's documented results.
TODAY = {
    'lib.escapeShellArg "esc\'ape\\nme"': "'esc'\\''ape\nme'",
    'lib.escapeShellArg "safe/path-1.0"': "safe/path-1.0",
    'lib.escapeShellArgs [ "one" "two three" "four\'five" ]': "one 'two three' 'four'\\''five'",
    'lib.escapeRegex "[^a-z]*"': "\\[\\^a-z]\\*",
    'lib.hasInfix "bc" "abcd" && !(lib.hasInfix "ab" "abc\\nx" == false)': True,
    'lib.versions.splitVersion "1.2.3"': ["1", "2", "3"],
    'lib.versions.major "1.2.3" + lib.versions.minor "1.2.3" + lib.versions.patch "1.2.3"': "123",
    'lib.versions.majorMinor "1.2.3"': "1.2",
    'lib.versions.pad 3 "1.2"': "1.2.0",
    'lib.versions.pad 3 "1.3-rc1"': "1.3.0-rc1",
    'lib.assertMsg true "never"': True,
    'builtins.tryEval (lib.assertMsg false "msg") |> (r: r.success)': False,
    'lib.assertOneOf "foo" "bar" [ "bar" "baz" ]': True,
    'lib.fetchers.proxyImpureEnvVars': [
        "http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy",
        "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY", "NO_PROXY"],
    'lib.elem "x86_64-linux" lib.platforms.linux && lib.elem "aarch64-darwin" lib.platforms.darwin': True,
    'lib.getExe { type = "derivation"; name = "hello-1.0"; outPath = "/nix/store/x-hello"; meta.mainProgram = "hi"; }': "/nix/store/x-hello/bin/hi",
    "lib.getExe' { type = \"derivation\"; name = \"x\"; outPath = \"/o\"; bin = \"/b\"; } \"ls\"": "/b/bin/ls",
    'lib.toShellVar "x" "a b"': "x='a b'",
    'lib.toShellVars { l = [ "a" "b c" ]; }': "declare -a l=(a 'b c')",
    'lib.composeManyExtensions [ (f: p: { a = p.a + 1; }) (f: p: { a = p.a * 3; }) ] {} { a = 1; }': {"a": 6},
    'lib.generators.toPretty {} { a = [ 1 "x" ]; b = null; }': '{\n  a = [\n    1\n    "x"\n  ];\n  b = null;\n}',
    'lib.generators.toKeyValue {} { a = 1; b = "x"; }': "a=1\nb=x\n",
    'lib.generators.toINI {} { s = { k = "v"; }; }': "[s]\nk=v\n",
    'lib.sanitizeDerivationName "..foo bar/baz"': "foo-bar-baz",
    'lib.trim "  a b \\n"': "a b",
    'lib.toInt " 42 "': 42,
    'lib.mapAttrs\' (n: v: lib.nameValuePair (lib.toUpper n) v) { a = 1; }': {"A": 1},
    'lib.attrsToList { a = 1; }': [{"name": "a", "value": 1}],
    'lib.cartesianProduct { a = [ 1 2 ]; b = [ 10 ]; }': [{"a": 1, "b": 10}, {"a": 2, "b": 10}],
    'lib.concatMapAttrs (n: v: { "${n}x" = v; }) { a = 1; b = 2; }': {"ax": 1, "bx": 2},
    'lib.foldlAttrs (acc: n: v: acc + v) 0 { a = 1; b = 2; }': 3,
    'lib.groupBy (x: if x > 2 then "big" else "small") [ 1 3 2 4 ]': {"big": [3, 4], "small": [1, 2]},
    'lib.findFirstIndex (x: x > 3) null [ 1 6 4 ]': 1,
    'lib.replicate 3 "a"': ["a", "a", "a"],
    # 17.09 still merged below the path where `pred` said stop
    'lib.recursiveUpdateUntil (path: l: r: path == [ "foo" ]) { foo.bar = 1; foo.baz = 2; bar = 3; } { foo.bar = 1; foo.quz = 2; baz = 4; }':
        {"foo": {"bar": 1, "quz": 2}, "bar": 3, "baz": 4},
    'lib.makeBinPath [ "/a" null ]': "/a/bin",
    'map (v: lib.types.port.check v) [ 0 65535 65536 (-1) ]': [True, True, False, False],
    'lib.getName "hello-2.10" + lib.getName { name = "foo-1.0"; }': "hellofoo",
    'lib.systems.elaborate "x86_64-linux" |> (p: [ p.config p.isLinux p.is64bit p.isx86_64 ])': [
        "x86_64-unknown-linux-gnu", True, True, True],
}


def _attrset(exprs: list[str]) -> str:
    # Nix 2.8 has no |> operator: expressions use it as sugar, rewritten here.
    body = "\n".join(f'  "{i}" = {_desugar(e)};' for i, e in enumerate(exprs))
    return "{\n" + body + "\n}"


def _desugar(expr: str) -> str:
    if "|>" not in expr:
        return f"({expr})"
    value, fn = expr.rsplit("|>", 1)
    return f"({fn.strip()} ({_desugar(value.strip())}))"


def _json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _write(tmp_path, name: str, lib: str, exprs: list[str]):
    path = tmp_path / name
    path.write_text(f"let lib = {lib}; in\n" + _attrset(exprs))
    return path


def test_lib_matches_nixpkgs_1709(tmp_path, nix, nixlite, nixpkgs_1709_lib):
    reference = _json(nix(["nix-instantiate", "--eval", "--strict", "--json",
                           str(_write(tmp_path, "ref.nix", f"import {nixpkgs_1709_lib}", SAME_AS_1709))]))
    ours = _json(nixlite(["eval", "--strict", "--json",
                          str(_write(tmp_path, "ours.nix", "import <nixpkgs/lib>", SAME_AS_1709))]))
    assert len(ours) == len(reference) == len(SAME_AS_1709)
    mismatches = [f"{SAME_AS_1709[int(k)]}: ours {ours[k]!r}, 17.09 {v!r}"
                  for k, v in reference.items() if ours[k] != v]
    assert mismatches == []


def test_lib_gives_todays_documented_results(tmp_path, nixlite):
    exprs = list(TODAY)
    got = _json(nixlite(["eval", "--strict", "--json",
                         str(_write(tmp_path, "today.nix", "import <nixpkgs/lib>", exprs))]))
    assert {e: got[str(i)] for i, e in enumerate(exprs)} == TODAY


def test_reference_nix_agrees_on_todays_results(tmp_path, nix, pkgs_dir):
    """The lib is plain Nix: the reference Nix evaluating it gives the same results."""
    exprs = list(TODAY)
    got = _json(nix(["nix-instantiate", "--eval", "--strict", "--json",
                     str(_write(tmp_path, "today.nix", f"import {pkgs_dir / 'lib'}", exprs))]))
    assert {e: got[str(i)] for i, e in enumerate(exprs)} == TODAY

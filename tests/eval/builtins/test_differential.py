"""The pure builtins against the reference Nix: every case is evaluated by
``nix-instantiate --eval --strict`` 2.8 (all in one process) and by nixlite, and
the printed values must be identical.

Where today's Nix (which nixlite follows) differs from 2.8, the case is in
``TODAY_VALUES`` or ``ERRORS`` with today's expected result written out, and the
reason; for errors Nix 2.8 is only required to fail too.
"""

from __future__ import annotations

import pytest


B = "builtins."

SAME = [
    # --- arithmetic and bits
    "[ (builtins.bitAnd 12 10) (builtins.bitOr 12 10) (builtins.bitXor 12 10) ]",
    "[ (builtins.bitAnd (-1) 255) (builtins.bitXor (-8) 3) (builtins.bitOr (-9223372036854775807 - 1) 1) ]",
    "[ (builtins.ceil 1.5) (builtins.ceil (-1.5)) (builtins.floor 1.5) (builtins.floor (-1.5)) ]",
    "[ (builtins.ceil 3) (builtins.floor 7) (builtins.ceil 0.0) (builtins.floor (-0.0)) (builtins.ceil 1.0e15) ]",
    "[ (builtins.add 1 2) (builtins.sub 1 2) (builtins.mul 3 4) (builtins.div 7 2) (builtins.div (-7) 2) ]",
    "[ (builtins.add 1 2.5) (builtins.div 1 4.0) (builtins.lessThan 1 2) (builtins.lessThan \"b\" \"a\") ]",
    # --- lists
    "builtins.map (x: x * 2) [ 1 2 3 ]",
    "builtins.map (x: x) [ ]",
    "builtins.length (builtins.map (x: throw \"lazy\") [ 1 2 3 ])",
    "builtins.map 1 [ ]",
    "builtins.filter (x: x > 1) [ 1 2 3 0 5 ]",
    "builtins.filter (x: true) [ ]",
    "builtins.length (builtins.filter (x: true) [ (throw \"lazy\") ])",
    "[ (builtins.elem 2 [ 1 2 3 ]) (builtins.elem 4 [ 1 2 3 ]) (builtins.elem (throw \"x\") [ ]) ]",
    "[ (builtins.elem [ 1 ] [ [ 1 ] ]) (builtins.elem { a = 1; } [ { a = 1; } ]) (builtins.elem 1.0 [ 1 ]) ]",
    "[ (builtins.elemAt [ 1 2 3 ] 0) (builtins.elemAt [ 1 2 3 ] 2) ]",
    "builtins.elemAt [ (throw \"lazy\") 2 ] 1",
    "[ (builtins.head [ 1 2 ]) (builtins.tail [ 1 2 3 ]) (builtins.tail [ 1 ]) ]",
    "builtins.head [ 1 (throw \"lazy\") ]",
    "builtins.length (builtins.tail [ (throw \"lazy\") 1 ])",
    "[ (builtins.length [ ]) (builtins.length [ 1 2 3 ]) ]",
    "builtins.concatLists [ [ 1 ] [ ] [ 2 3 ] ]",
    "builtins.concatLists [ ]",
    "builtins.length (builtins.concatLists [ [ (throw \"lazy\") ] ])",
    "builtins.concatMap (x: [ x x ]) [ 1 2 ]",
    "builtins.concatMap (x: [ ]) [ 1 2 ]",
    "builtins.foldl' (a: b: a + b) 0 [ 1 2 3 4 ]",
    "builtins.foldl' (a: b: a ++ [ b ]) [ ] [ 1 2 3 ]",
    "builtins.foldl' (a: b: b) (throw \"unforced\") [ 1 ]",
    "builtins.foldl' (a: b: a) 5 [ ]",
    "builtins.foldl' (a: b: { inherit b; }) 0 [ 1 2 ]",
    "[ (builtins.any (x: x > 2) [ 1 2 3 ]) (builtins.any (x: x > 5) [ 1 2 3 ]) (builtins.any (x: true) [ ]) ]",
    "[ (builtins.all (x: x > 0) [ 1 2 3 ]) (builtins.all (x: x > 1) [ 1 2 3 ]) (builtins.all (x: false) [ ]) ]",
    "builtins.any (x: x) [ true (throw \"short circuit\") ]",
    "builtins.all (x: x) [ false (throw \"short circuit\") ]",
    "builtins.genList (i: i * i) 5",
    "builtins.genList (i: i) 0",
    "builtins.length (builtins.genList (i: throw \"lazy\") 3)",
    "builtins.partition (x: x > 2) [ 1 3 2 4 ]",
    "builtins.partition (x: true) [ ]",
    "builtins.groupBy (x: if x > 2 then \"big\" else \"small\") [ 1 3 2 4 ]",
    "builtins.groupBy (s: builtins.substring 0 1 s) [ \"apple\" \"avocado\" \"banana\" ]",
    "builtins.attrNames (builtins.groupBy (x: throw \"forced\") [ ])",
    "builtins.sort builtins.lessThan [ 3 1 2 ]",
    "builtins.sort builtins.lessThan [ \"b\" \"a\" \"ab\" \"\" ]",
    "builtins.sort builtins.lessThan [ 2.5 1 3 0.5 ]",
    "builtins.sort (a: b: a > b) [ 1 5 2 4 3 ]",
    "builtins.sort (a: b: a.k < b.k) [ { k = 2; v = \"a\"; } { k = 1; v = \"b\"; } { k = 2; v = \"c\"; } { k = 1; v = \"d\"; } ]",
    "builtins.sort (a: b: false) [ 3 1 2 ]",
    "builtins.sort builtins.lessThan [ ]",
    "builtins.sort builtins.lessThan [ \"é\" (builtins.substring 0 1 \"é\") \"e\" \"\" \"z\" ]",
    "builtins.sort builtins.lessThan [ [ 2 1 ] [ 1 2 ] [ 1 ] ]",
    "builtins.sort builtins.lessThan [ /b /a ]",
    "builtins.sort (a: b: a < b) (builtins.genList (i: (i * 7919) - (i / 13) * 100003) 200)",
    # --- attribute sets
    "builtins.attrNames { b = 1; a = 2; \"c d\" = 3; }",
    "builtins.attrValues { b = 1; a = 2; }",
    "builtins.attrNames { }",
    "builtins.attrNames (builtins.listToAttrs (map (n: { name = n; value = 1; }) [ \"é\" (builtins.substring 0 1 \"é\") \"z\" \"ü\" ]))",
    "builtins.length (builtins.attrValues { a = throw \"lazy\"; })",
    "[ (builtins.getAttr \"a\" { a = 1; }) (builtins.hasAttr \"a\" { a = 1; }) (builtins.hasAttr \"b\" { a = 1; }) ]",
    "builtins.catAttrs \"a\" [ { a = 1; } { b = 2; } { a = 3; } ]",
    "builtins.length (builtins.catAttrs \"a\" [ { a = throw \"lazy\"; } ])",
    # one list asked for every name (lib's zipAttrsWith): answered from an index after a while
    "let sets = builtins.genList (i: { \"k${toString (i / 3)}\" = i; x = i; } // (if i == 7 then { z = 0; } else { })) 40; "
    "in map (n: builtins.catAttrs n sets) [ \"x\" \"k0\" \"k5\" \"z\" \"k13\" \"none\" \"x\" \"k1\" \"k2\" ]",
    "let sets = [ (throw \"first\") ] ++ builtins.genList (i: { x = i; }) 40; "
    "in builtins.tryEval (map (n: builtins.tryEval (builtins.length (builtins.catAttrs n sets))) [ \"x\" \"x\" \"x\" ])",
    "builtins.intersectAttrs { a = 1; b = 2; } { b = 3; c = 4; }",
    "builtins.intersectAttrs { } { a = 1; }",
    "builtins.removeAttrs { a = 1; b = 2; c = 3; } [ \"a\" \"c\" \"z\" ]",
    "builtins.removeAttrs { a = 1; } [ ]",
    "builtins.listToAttrs [ { name = \"a\"; value = 1; } { name = \"b\"; value = 2; } { name = \"a\"; value = 3; } ]",
    "builtins.listToAttrs [ ]",
    "builtins.listToAttrs [ { name = \"a\"; value = 1; } { name = \"a\"; } ]",
    "builtins.attrNames (builtins.listToAttrs [ { name = \"x\"; value = throw \"lazy\"; } ])",
    "builtins.mapAttrs (n: v: n + toString v) { a = 1; b = 2; }",
    "builtins.attrNames (builtins.mapAttrs (n: v: throw \"lazy\") { a = 1; })",
    "builtins.mapAttrs 1 { }",
    "builtins.zipAttrsWith (n: vs: vs) [ { a = 1; } { a = 2; b = 3; } { } ]",
    "builtins.zipAttrsWith (n: vs: n) [ { a = 1; b = 2; } ]",
    "builtins.zipAttrsWith (n: vs: vs) [ ]",
    "builtins.attrNames (builtins.zipAttrsWith (n: vs: throw \"lazy\") [ { a = 1; } ])",
    # --- positions kept (or not) by the attribute builtins
    "builtins.unsafeGetAttrPos \"a\" (builtins.mapAttrs (n: v: v) { a = 1; })",
    "builtins.unsafeGetAttrPos \"a\" (builtins.zipAttrsWith (n: v: v) [ { a = 1; } ])",
    # (positions kept by listToAttrs, removeAttrs, intersectAttrs: a file case,
    # fixtures/eval/builtins_attrs/unsafe_get_attr_pos_derived.nix, as -E text has none today)
    # --- strings
    "[ (builtins.stringLength \"\") (builtins.stringLength \"abc\") (builtins.stringLength \"é\") ]",
    "builtins.stringLength { __toString = self: \"four\"; }",
    "[ (builtins.substring 0 3 \"hello\") (builtins.substring 1 100 \"hello\") (builtins.substring 10 2 \"hello\") ]",
    "[ (builtins.substring 2 (-1) \"hello\") (builtins.substring 0 0 \"hello\") (builtins.substring 3 0 \"\") ]",
    "builtins.substring 0 2 { outPath = \"abcd\"; }",
    "builtins.concatStringsSep \", \" [ \"a\" \"b\" \"c\" ]",
    "[ (builtins.substring 1 1 \"é\") (builtins.substring 0 1 \"é\") (builtins.substring 1 3 \"héllo\") ]",
    "builtins.replaceStrings [ \"\" ] [ \"-\" ] \"é\"",
    "builtins.hashString \"sha256\" (builtins.substring 0 1 \"é\")",
    "builtins.stringLength (builtins.substring 0 1 \"é\" + \"x\")",
    "builtins.match \"(.)(.)\" (builtins.substring 0 2 \"éa\")",
    "builtins.concatStringsSep \"-\" [ ]",
    "builtins.concatStringsSep \"\" [ \"a\" { outPath = \"x\"; } ]",
    "builtins.replaceStrings [ \"a\" \"b\" ] [ \"A\" \"B\" ] \"abcab\"",
    "builtins.replaceStrings [ \"ab\" \"a\" ] [ \"X\" \"Y\" ] \"aab\"",
    "builtins.replaceStrings [ \"a\" \"ab\" ] [ \"X\" \"Y\" ] \"aab\"",
    "builtins.replaceStrings [ \"\" ] [ \"-\" ] \"abc\"",
    "builtins.replaceStrings [ \"\" ] [ \"-\" ] \"\"",
    "builtins.replaceStrings [ \"a\" \"\" ] [ \"A\" \"_\" ] \"xay\"",
    "builtins.replaceStrings [ ] [ ] \"same\"",
    "builtins.replaceStrings [ \"o\" ] [ \"0\" ] \"foo boo\"",
    "builtins.replaceStrings [ \"\\n\" \"\\\"\" ] [ \"\\\\n\" \"\\\\\\\"\" ] \"a\\n\\\"b\"",
    "builtins.replaceStrings [ \"é\" ] [ \"e\" ] \"café é\"",
    "builtins.replaceStrings [ \"a\" \"a\" ] [ \"1\" \"2\" ] \"aa\"",
    # --- regex
    "builtins.match \"a(b)c\" \"abc\"",
    "builtins.match \"a(b)c\" \"abcd\"",
    "builtins.match \"(a)|b\" \"b\"",
    "builtins.match \"([[:alpha:]]+)([0-9]*)\" \"abc123\"",
    "builtins.match \".*\\\\.nix\" \"default.nix\"",
    "builtins.match \"(.)\" \"é\"",
    "builtins.match \".\" \"\\n\"",
    "builtins.match \"(a*)*\" \"aa\"",
    "builtins.match \"((a)|b)*\" \"ab\"",
    "builtins.match \"(a|ab)(c|bcd)(d*)\" \"abcd\"",
    "builtins.match \"a**\" \"aa\"",
    "builtins.match \"a*?\" \"aa\"",
    "builtins.match \"a{2}\" \"aa\"",
    "builtins.match \"a{2,}\" \"aaaa\"",
    "builtins.match \"a{1,2}\" \"aaa\"",
    "builtins.match \"[]a]+\" \"]a]\"",
    "builtins.match \"[^]a]\" \"b\"",
    "builtins.match \"[a-]+\" \"a-\"",
    "builtins.match \"[--a]+\" \"-a\"",
    "builtins.match \"[.]\" \"a\"",
    "builtins.match \"[[.a.]]\" \"a\"",
    "builtins.match \"[[=a=]]\" \"a\"",
    "builtins.match \"[[:space:]]+\" \" \\t\\n\"",
    "builtins.match \"x*^a\" \"a\"",
    "builtins.match \"a$b\" \"ab\"",
    "builtins.match \"()\" \"\"",
    "builtins.match \"a|\" \"\"",
    "builtins.match \"}\" \"}\"",
    "builtins.match \"]\" \"]\"",
    "builtins.match \"\\\\.\\\\*\\\\[\\\\(\\\\)\\\\{\\\\|\\\\+\\\\?\\\\^\\\\$\\\\\\\\\" \".*[(){|+?^$\\\\\"",
    "builtins.match \"[\\\\]+\" \"\\\\\"",
    "builtins.match \"[[:upper:][:digit:]_]+\" \"AB_12\"",
    "builtins.match \"(foo)?bar\" \"bar\"",
    "builtins.split \"(,)\" \"a,b,c\"",
    "builtins.split \",\" \"a,b,c\"",
    "builtins.split \"x\" \"abc\"",
    "builtins.split \"(a)|b\" \"abc\"",
    "builtins.split \"\" \"ab\"",
    "builtins.split \"a*\" \"baaac\"",
    "builtins.split \"(a*)\" \"xay\"",
    "builtins.split \"[[:space:]]+\" \" foo  bar \"",
    "builtins.split \"(.)\" \"é\"",
    "builtins.split \"^a\" \"aaa\"",
    "builtins.split \"a$\" \"aaa\"",
    "builtins.split \"a|ab\" \"abc\"",
    "builtins.split \"(b|bc)*\" \"abcbc\"",
    "builtins.split \"x*(a|ab)\" \"ab\"",
    "builtins.split \"(,|;)\" \"a,b;c\"",
    "builtins.split \"|\" \"ab\"",
    "builtins.split \"^|b\" \"abb\"",
    "builtins.split \"(a|ab)(c|bcd)?(d*)\" \"xabcdabcd\"",
    "builtins.split \"é{2}|([[:alpha:]]){0,}$\" \".éaééé\"",
    "builtins.split \"(\\n|\\r\\n)\" \"a\\r\\nb\\nc\"",
    # --- versions
    "[ (builtins.compareVersions \"1.0\" \"2.3\") (builtins.compareVersions \"2.1\" \"2.3\") (builtins.compareVersions \"2.3\" \"2.3\") ]",
    "[ (builtins.compareVersions \"2.5\" \"2.3\") (builtins.compareVersions \"3.1\" \"2.3\") (builtins.compareVersions \"2.3.1\" \"2.3\") ]",
    "[ (builtins.compareVersions \"2.3.1\" \"2.3a\") (builtins.compareVersions \"2.3pre1\" \"2.3\") (builtins.compareVersions \"2.3pre3\" \"2.3pre12\") ]",
    "[ (builtins.compareVersions \"2.3a\" \"2.3c\") (builtins.compareVersions \"2.3pre1\" \"2.3c\") (builtins.compareVersions \"2.3pre1\" \"2.3q\") ]",
    "[ (builtins.compareVersions \"\" \"\") (builtins.compareVersions \"1\" \"\") (builtins.compareVersions \"1.\" \"1\") ]",
    "[ (builtins.compareVersions \"99999999999\" \"2\") (builtins.compareVersions \"1-2\" \"1.2\") (builtins.compareVersions \"a\" \"B\") ]",
    "builtins.splitVersion \"1.2.3pre4-foo..bar\"",
    "builtins.splitVersion \"\"",
    "builtins.splitVersion \"..--\"",
    "builtins.splitVersion \"2.3pre1-rc-é1\"",
    "builtins.parseDrvName \"nix-0.12pre12876\"",
    "builtins.parseDrvName \"hello\"",
    "builtins.parseDrvName \"foo-bar-baz-1.0-rc1\"",
    "builtins.parseDrvName \"a--1\"",
    "builtins.parseDrvName \"a-\"",
    "builtins.parseDrvName \"-1\"",
    # --- hashing
    "builtins.hashString \"md5\" \"hello\"",
    "builtins.hashString \"sha1\" \"\"",
    "builtins.hashString \"sha256\" \"hello world\"",
    "builtins.hashString \"sha512\" \"é\"",
    # --- JSON
    "builtins.toJSON { b = [ 1 true null \"x\" ]; a = { }; c = [ ]; }",
    "builtins.toJSON \"quote\\\" backslash\\\\ nl\\n tab\\t cr\\r\"",
    "builtins.toJSON [ (-5) 0 9223372036854775807 ]",
    "builtins.toJSON { outPath = \"/x\"; a = 1; }",
    "builtins.toJSON { __toString = self: \"str\"; outPath = \"/x\"; }",
    "builtins.toJSON \"é ü 😀\"",
    "builtins.toJSON \"\\u0001\"",
    "builtins.fromJSON \"{\\\"a\\\": [1, 2.5, true, false, null, \\\"s\\\"], \\\"b\\\": {}}\"",
    "builtins.fromJSON \"  [ ]  \"",
    "builtins.fromJSON \"{\\\"a\\\":1,\\\"a\\\":2}\"",
    "builtins.fromJSON \"\\\"\\\\u00e9\\\\n\\\\\\\"\\\"\"",
    "builtins.fromJSON \"[-0, 1e2, 1E-2, -1.5e+3, 0.1]\"",
    "builtins.fromJSON \"18446744073709551616\"",
    "builtins.fromJSON \"-9223372036854775808\"",
    "builtins.fromJSON \"\\\"\\\\ud83d\\\\ude00\\\"\"",
    "builtins.fromJSON (builtins.toJSON { x = [ 1 \"two\" { y = null; } ]; })",
    # --- TOML
    "builtins.fromTOML \"a = 1\\nb = \\\"x\\\"\\n[t]\\nc = [1, 2]\\nd.e = true\"",
    "builtins.fromTOML \"[[p]]\\nn = 1\\n[[p]]\\nn = 2\"",
    "builtins.fromTOML \"f = 1.5\\ng = -0.25\\nh = 1e3\\ni = 0x1F\\nj = 0o17\\nk = 0b101\\nl = 1_000\"",
    "builtins.fromTOML \"s = '''\\nmulti\\nline'''\\nt = 'lit\\\\eral'\"",
    "builtins.fromTOML \"\"",
    "builtins.fromTOML \"a = { b = 1, c = [ { d = 2 } ] }\"",
    "builtins.fromTOML \"\\\"quoted key\\\" = 1\\n'lit' = 2\\na.\\\"b.c\\\".d = 3\"",
    "builtins.fromTOML \"x = [ 1, [ 2, 3 ], [ ] ]\\ny = [ \\\"s\\\", 'l' ]\\nz = -9223372036854775808\"",
    "builtins.fromTOML \"a = inf\\nb = -inf\\nc = nan\\nd = +inf\"",
    "builtins.fromTOML \"[a.b]\\nc = 1\\n[a]\\nd = 2\"",
    "builtins.fromTOML \"s = \\\"\\\\u00e9\\\\t\\\\\\\"\\\"\\nb = true\\nf = false\"",
    # --- XML
    "builtins.toXML { a = 1; b = \"x<&>\\\"'\\n\"; c = [ true null 1.5 ]; }",
    "builtins.toXML (x: x)",
    "builtins.toXML ({ a, b ? 1, ... }@args: a)",
    "builtins.toXML ({ }: 1)",
    "builtins.toXML builtins.map",
    "builtins.toXML [ ]",
    "builtins.toXML { }",
    "builtins.toXML /some/path",
    "builtins.toXML 0.1",
    "builtins.toXML { type = \"derivation\"; drvPath = \"/d.drv\"; outPath = \"/o\"; x = 1; }",
    "let d = { type = \"derivation\"; drvPath = \"/d.drv\"; outPath = \"/o\"; }; in builtins.toXML [ d d ]",
]

# Today's Nix differs from 2.8 for these values.
TODAY_VALUES = {
    # Today's mkPos gives null for a position outside a file (2.8: file = the -E text).
    "builtins.unsafeGetAttrPos \"a\" { a = 1; }": "null",
    "__curPos": "null",
    # nlohmann::json (Nix >= 2.12) prints floats shortest round-trip; 2.8 printed 6 digits.
    "builtins.toJSON [ 0.1 1.0 1.5e-7 1.0e20 (1.0 / 3) 123456.789 ]":
        '"[0.1,1.0,1.5e-07,1e+20,0.3333333333333333,123456.789]"',
    "builtins.toJSON 1.0e15": '"1e+15"',
    "builtins.toJSON 1.0e14": '"100000000000000.0"',
    "builtins.toJSON 0.0001": '"0.0001"',
    "builtins.toJSON (builtins.fromJSON \"-0.0\")": '"-0.0"',
    # Today's filter, like map, forces the function only for a non-empty list.
    "builtins.filter 1 [ ]": "[ ]",
    # Today's replaceStrings forces a replacement only when it is used (2.8: all of them).
    "builtins.replaceStrings [ \"x\" ] [ (throw \"unused\") ] \"abc\"": '"abc"',
    # nlohmann escapes \b and \f briefly; 2.8 wrote \u0008 and \u000c.
    'builtins.toJSON (builtins.fromJSON "\\"\\\\b\\\\f\\"")': '"\\"\\\\b\\\\f\\""',
    # convertHash is new in Nix 2.19.
    "builtins.convertHash { hash = \"sha256-uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=\"; toHashFormat = \"base16\"; }":
        '"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"',
    "builtins.convertHash { hash = \"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9\"; hashAlgo = \"sha256\"; toHashFormat = \"nix32\"; }":
        '"1sfdxziarxw8j3p80lvswgpq9i7smdyxmmsj5sjhhgjdjfwjfkdr"',
    "builtins.convertHash { hash = \"sha256:1sfdxziarxw8j3p80lvswgpq9i7smdyxmmsj5sjhhgjdjfwjfkdr\"; toHashFormat = \"sri\"; }":
        '"sha256-uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="',
    "builtins.convertHash { hash = \"sha1-qvTGHdzF6KLavt4PO0gs2a6pQ00=\"; toHashFormat = \"base64\"; }":
        '"qvTGHdzF6KLavt4PO0gs2a6pQ00="',
    "builtins.convertHash { hash = \"5d41402abc4b2a76b9719d911017c592\"; hashAlgo = \"md5\"; toHashFormat = \"base32\"; }":
        '"4jqlbi14cxf6wpcajbphm40hax"',
}
# (expression, today's first error line without "error: "); Nix 2.8 must fail too.
ERRORS = [
    ("builtins.length 1", "expected a list but found an integer: 1"),
    ("builtins.head [ ]", "'builtins.head' called on an empty list"),
    ("builtins.tail [ ]", "'builtins.tail' called on an empty list"),
    ("builtins.elemAt [ 1 2 ] 2", "'builtins.elemAt' called with index 2 on a list of size 2"),
    ("builtins.elemAt [ ] (-1)", "'builtins.elemAt' called with index -1 on a list of size 0"),
    ("builtins.elemAt \"foo\" 0", "expected a list but found a string: \"foo\""),
    ("builtins.map 1 [ 1 ]", "expected a function but found an integer: 1"),
    ("builtins.map (x: x) \"foo\"", "expected a list but found a string: \"foo\""),
    ("builtins.filter (x: 5) [ 1 ]", "expected a Boolean but found an integer: 5"),
    ("builtins.concatLists [ [ 1 ] \"foo\" ]", "expected a list but found a string: \"foo\""),
    ("builtins.concatMap (x: 1) [ 1 ]", "expected a list but found an integer: 1"),
    ("builtins.foldl' 1 0 [ ]", "expected a function but found an integer: 1"),
    ("builtins.foldl' (a: b: a) 0 true", "expected a list but found a Boolean: true"),
    ("builtins.any (x: 1) [ 1 ]", "expected a Boolean but found an integer: 1"),
    ("builtins.all 1 [ ]", "expected a function but found an integer: 1"),
    ("builtins.genList (x: x) (-3)", "cannot create list of size -3"),
    ("builtins.genList 1 2", "expected a function but found an integer: 1"),
    ("builtins.sort 1 [ 1 ]", "expected a function but found an integer: 1"),
    ("builtins.sort (a: b: 1) [ 1 2 ]", "expected a Boolean but found an integer: 1"),
    ("builtins.partition (x: 1) [ 1 ]", "expected a Boolean but found an integer: 1"),
    ("builtins.groupBy (x: x) [ \"a\" 1 ]", "expected a string but found an integer: 1"),
    ("builtins.attrNames [ ]", "expected a set but found a list: [ ]"),
    ("builtins.getAttr \"foo\" { }", "attribute 'foo' missing"),
    ("builtins.getAttr 1 { }", "expected a string but found an integer: 1"),
    ("builtins.hasAttr \"a\" [ ]", "expected a set but found a list: [ ]"),
    ("builtins.catAttrs \"a\" [ 1 ]", "expected a set but found an integer: 1"),
    ("builtins.removeAttrs \"\" [ ]", "expected a set but found a string: \"\""),
    ("builtins.removeAttrs { } [ 1 ]", "expected a string but found an integer: 1"),
    ("builtins.listToAttrs [ { } ]", "attribute 'name' missing"),
    ("builtins.listToAttrs [ { name = \"foo\"; } ]", "attribute 'value' missing"),
    ("builtins.listToAttrs [ { name = 1; value = 1; } ]", "expected a string but found an integer: 1"),
    ("builtins.listToAttrs [ 1 ]", "expected a set but found an integer: 1"),
    ("builtins.intersectAttrs { } [ ]", "expected a set but found a list: [ ]"),
    ("builtins.mapAttrs (n: v: v) [ ]", "expected a set but found a list: [ ]"),
    ("builtins.zipAttrsWith (n: v: v) [ 1 ]", "expected a set but found an integer: 1"),
    ("builtins.bitAnd 1.1 2", "expected an integer but found a float: 1.1"),
    ("builtins.bitXor 1 2.2", "expected an integer but found a float: 2.2"),
    ("builtins.ceil \"foo\"", "expected a float but found a string: \"foo\""),
    ("builtins.floor \"foo\"", "expected a float but found a string: \"foo\""),
    ("builtins.substring (-3) 3 \"sometext\"", "negative start position in 'substring'"),
    ("builtins.substring 0 3 { }", "cannot coerce a set to a string: { }"),
    ("builtins.stringLength 1", "cannot coerce an integer to a string: 1"),
    ("builtins.concatStringsSep \"foo\" [ 1 ]", "cannot coerce an integer to a string: 1"),
    ("builtins.concatStringsSep 1 [ ]", "expected a string but found an integer: 1"),
    ("builtins.replaceStrings [ \"a\" ] [ ] \"a\"",
     "'from' and 'to' arguments passed to builtins.replaceStrings have different lengths"),
    ("builtins.replaceStrings [ 1 ] [ \"new\" ] \"x\"", "expected a string but found an integer: 1"),
    ("builtins.replaceStrings [ \"oo\" ] [ true ] \"foo\"", "expected a string but found a Boolean: true"),
    ("builtins.replaceStrings [ ] [ ] ./x", "expected a string but found a path: /tmp/x"),
    ("builtins.match \"(.*\" \"\"", "invalid regular expression '(.*'"),
    ("builtins.split \"f(o*o\" \"1foo2\"", "invalid regular expression 'f(o*o'"),
    ("builtins.match \"*a\" \"a\"", "invalid regular expression '*a'"),
    ("builtins.match \"a{,2}\" \"a\"", "invalid regular expression 'a{,2}'"),
    ("builtins.match \"a{2,1}\" \"aa\"", "invalid regular expression 'a{2,1}'"),
    ("builtins.match \"a{\" \"a\"", "invalid regular expression 'a{'"),
    ("builtins.match \"[z-a]\" \"a\"", "invalid regular expression '[z-a]'"),
    ("builtins.match \"[a-c-e]\" \"a\"", "invalid regular expression '[a-c-e]'"),
    ("builtins.match \"[[:digit:]-z]\" \"a\"", "invalid regular expression '[[:digit:]-z]'"),
    ("builtins.match \"[[:foo:]]\" \"a\"", "invalid regular expression '[[:foo:]]'"),
    ("builtins.match \"\\\\d\" \"1\"", "invalid regular expression '\\d'"),
    ("builtins.match \"a\\\\\" \"a\"", "invalid regular expression 'a\\'"),
    ("builtins.match \"^*\" \"a\"", "invalid regular expression '^*'"),
    ("builtins.match \"[a\" \"a\"", "invalid regular expression '[a'"),
    ("builtins.match \"a)\" \"a\"", "invalid regular expression 'a)'"),
    ("builtins.match \"\\\\]\" \"]\"", "invalid regular expression '\\]'"),
    ("builtins.match \"\\\\}\" \"}\"", "invalid regular expression '\\}'"),
    ("builtins.match \"\\\\n\" \"n\"", "invalid regular expression '\\n'"),
    ("builtins.match 1 \"a\"", "expected a string but found an integer: 1"),
    ("builtins.compareVersions 1 \"a\"", "expected a string but found an integer: 1"),
    ("builtins.parseDrvName 1", "expected a string but found an integer: 1"),
    ("builtins.hashString \"foo\" \"content\"",
     "unknown hash algorithm 'foo', expect 'blake3', 'md5', 'sha1', 'sha256', or 'sha512'"),
    ("builtins.toJSON (x: x)", "cannot convert a function to JSON"),
    ("builtins.toJSON [ builtins.map ]", "cannot convert the built-in function 'map' to JSON"),
    # nlohmann (today's Nix) refuses to write non-UTF-8 bytes; 2.8 wrote them raw.
    ("builtins.toJSON (builtins.substring 0 1 \"é\" + \"x\")",
     "[json.exception.type_error.316] invalid UTF-8 byte at index 1: 0x78"),
    ("builtins.toJSON { a = \"ok\" + builtins.substring 0 1 \"é\"; }",
     "[json.exception.type_error.316] incomplete UTF-8 string; last byte: 0xC3"),
    ("builtins.convertHash { hash = \"abc\"; hashAlgo = \"sha256\"; toHashFormat = \"sri\"; }",
     "hash 'abc' has wrong length for hash algorithm 'sha256'"),
    ("builtins.convertHash { hash = \"abc\"; toHashFormat = \"sri\"; }",
     "hash 'abc' does not include a type, nor is the type otherwise known from context"),
    ("builtins.convertHash { hash = \"sha1-qvTGHdzF6KLavt4PO0gs2a6pQ00=\"; hashAlgo = \"sha256\"; toHashFormat = \"sri\"; }",
     "hash 'sha1-qvTGHdzF6KLavt4PO0gs2a6pQ00=' should have type 'sha256'"),
    ("builtins.convertHash { hash = \"md5:5d41402abc4b2a76b9719d911017c592\"; toHashFormat = \"hex\"; }",
     "unknown hash format 'hex', expect 'base16', 'base32', 'base64', or 'sri'"),
    ("builtins.convertHash { hash = \"foo:abc\"; toHashFormat = \"sri\"; }",
     "unknown hash algorithm 'foo', expect 'blake3', 'md5', 'sha1', 'sha256', or 'sha512'"),
    ("builtins.convertHash { toHashFormat = \"sri\"; }", "attribute 'hash' missing"),
    ("builtins.fromJSON \"[1,2\"",
     "[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while "
     "parsing array - unexpected end of input; expected ']'"),
    ("builtins.fromJSON \"x\"",
     "[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while "
     "parsing value - invalid literal; last read: 'x'"),
    ("builtins.fromJSON \"{\\\"a\\\" 1}\"",
     "[json.exception.parse_error.101] parse error at line 1, column 6: syntax error while "
     "parsing object separator - unexpected number literal; expected ':'"),
    ("builtins.fromJSON \"[1,]\"",
     "[json.exception.parse_error.101] parse error at line 1, column 4: syntax error while "
     "parsing value - unexpected ']'; expected '[', '{', or a literal"),
    ("builtins.fromJSON \"01\"",
     "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while "
     "parsing value - unexpected number literal; expected end of input"),
    ("builtins.fromJSON \"\"",
     "[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while "
     "parsing value - unexpected end of input; expected '[', '{', or a literal"),
    ("builtins.fromJSON \"[1,2]x\"",
     "[json.exception.parse_error.101] parse error at line 1, column 6: syntax error while "
     "parsing value - invalid literal; last read: '2]x'; expected end of input"),
    ("builtins.fromJSON \"{\\\"a\\\":tru}\"",
     "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error while "
     "parsing value - invalid literal; last read: '\"a\":tru}'"),
    ("builtins.fromJSON \"\\\"a\\tb\\\"\"",
     "[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while "
     "parsing value - invalid string: control character U+0009 (HT) must be escaped to "
     "\\u0009 or \\t; last read: '\"a<U+0009>'"),
    # lone surrogate escapes: Python's decoder accepts them, nlohmann does not
    ("builtins.fromJSON \"\\\"\\\\udc00x\\\"\"",
     "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error while "
     "parsing value - invalid string: surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF; "
     "last read: '\"\\udc00'"),
    ("builtins.fromJSON \"{\\\"\\\\ud800\\\": 1}\"",
     "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error while "
     "parsing object key - invalid string: surrogate U+D800..U+DBFF must be followed by "
     "U+DC00..U+DFFF; last read: '\"\\ud800\"'; expected string literal"),
    ("builtins.fromJSON \"[\\n1,\\n-]\"",
     "[json.exception.parse_error.101] parse error at line 3, column 2: syntax error while "
     "parsing value - invalid number; expected digit after '-'; last read: '-]'"),
    ("builtins.fromJSON (\"\\\"\" + builtins.substring 0 1 \"é\" + \"\\\"\")",
     "[json.exception.parse_error.101] parse error at line 1, column 3: syntax error while "
     "parsing value - invalid string: ill-formed UTF-8 byte; last read: '\"\udcc3\"'"),
    ("builtins.fromJSON \"[1e400]\"", "[json.exception.out_of_range.406] number overflow parsing '1e400'"),
    ("builtins.fromJSON \"NaN\"",
     "[json.exception.parse_error.101] parse error at line 1, column 1: syntax error while "
     "parsing value - invalid literal; last read: 'N'"),
    # 2.8 cut the string at the NUL ("a"); today's Nix refuses it.
    ("builtins.fromJSON \"\\\"a\\\\u0000b\\\"\"",
     "input string 'a\u2400b' cannot be represented as Nix string because it contains null bytes"),
    # In 2.8 this wrapped to -1; today's Nix refuses it.
    ("builtins.fromJSON \"18446744073709551615\"",
     "unsigned json number 18446744073709551615 outside of Nix integer range"),
    # 2.8: "while parsing a TOML string: …"; the detail differs (toml11 vs Python's tomllib).
    ("builtins.fromTOML \"a = 1979-05-27\"", "while parsing TOML: Dates and times are not supported"),
    ("builtins.fromTOML \"a = 1979-05-27T07:32:00Z\"", "while parsing TOML: Dates and times are not supported"),
]

@pytest.fixture(scope="module")
def nix_results(nix_batch):
    return nix_batch(SAME)


@pytest.fixture(scope="module")
def nix_error_results(nix_batch):
    return nix_batch([e for e, _ in ERRORS], expect_ok=False)


@pytest.mark.nix
@pytest.mark.parametrize("expr", SAME)
def test_same_as_nix(expr, nix_results, nl_eval):
    expected = nix_results[expr]
    assert expected.ok, f"Nix 2.8 failed: {expected.err}"
    assert nl_eval(expr) == (True, expected.out)


@pytest.mark.parametrize("expr,expected", list(TODAY_VALUES.items()))
def test_todays_values(expr, expected, nl_eval):
    assert nl_eval(expr) == (True, expected)


@pytest.mark.parametrize("expr,message", ERRORS)
def test_todays_errors(expr, message, nl_eval):
    assert nl_eval(expr) == (False, message)


@pytest.mark.nix
@pytest.mark.parametrize("expr,message", [c for c in ERRORS if "unsigned json" not in c[1] and "null bytes" not in c[1]
                          and "convertHash" not in c[0] and "type_error.316" not in c[1]])
def test_nix_fails_too(expr, message, nix_error_results):
    assert not nix_error_results[expr].ok, nix_error_results[expr].out


# nlohmann's messages are the same in 2.8 and today's Nix: compare them with 2.8's text.
@pytest.mark.nix
@pytest.mark.parametrize("expr,message", [c for c in ERRORS if c[1].startswith("[json.exception")
                                          and "type_error.316" not in c[1]])
def test_json_errors_word_for_word(expr, message, nix_error_results):
    assert nix_error_results[expr].message == message

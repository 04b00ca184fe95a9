# Small functions on values: identity, composition, booleans, numbers, warnings,
# function arguments.
{ lib }:

rec {
  id = x: x;
  const = x: _: x;
  flip = f: a: b: f b a;
  pipe = builtins.foldl' (x: f: f x);
  concat = x: y: x ++ y;

  or = x: y: x || y;
  and = x: y: x && y;
  xor = x: y: (!x) != (!y);
  inherit (builtins) bitAnd bitOr bitXor seq deepSeq;
  bitNot = builtins.sub (-1);

  boolToString = b: if b then "true" else "false";
  mergeAttrs = x: y: x // y;
  mapNullable = f: a: if a == null then a else f a;
  defaultTo = default: maybe: if maybe == null then default else maybe;

  min = x: y: if x < y then x else y;
  max = x: y: if x > y then x else y;
  mod = base: int: base - (int * (builtins.div base int));
  compare = a: b: if a < b then -1 else if a > b then 1 else 0;
  splitByAndCompare = p: yes: no: a: b:
    if p a
    then (if p b then yes a b else -1)
    else (if p b then 1 else no a b);

  importJSON = path: builtins.fromJSON (builtins.readFile path);
  importTOML = path: builtins.fromTOML (builtins.readFile path);

  warn = msg: builtins.trace "[1;31mwarning: ${msg}[0m";
  warnIf = cond: msg: if cond then warn msg else x: x;
  warnIfNot = cond: msg: if cond then x: x else warn msg;
  throwIf = cond: msg: if cond then throw msg else x: x;
  throwIfNot = cond: msg: if cond then x: x else throw msg;
  info = msg: builtins.trace "INFO: ${msg}";

  # Functions with recorded arguments (functors), as callPackage reads them.
  setFunctionArgs = f: args: { __functor = self: f; __functionArgs = args; };
  functionArgs = f:
    if f ? __functor
    then f.__functionArgs or (lib.functionArgs (f.__functor f))
    else builtins.functionArgs f;
  isFunction = f: builtins.isFunction f || (f ? __functor && lib.isFunction (f.__functor f));
  mirrorFunctionArgs = f: let fArgs = lib.functionArgs f; in g: lib.setFunctionArgs g fArgs;
  toFunction = v: if lib.isFunction v then v else _: v;

  toHexString = i:
    let
      toHexDigit = d:
        if d < 10 then toString d
        else { "10" = "A"; "11" = "B"; "12" = "C"; "13" = "D"; "14" = "E"; "15" = "F"; }.${toString d};
    in lib.concatMapStrings toHexDigit (lib.toBaseDigits 16 i);
  toBaseDigits = base: i:
    let
      go = i:
        if i < base then [ i ]
        else
          let r = i - ((i / base) * base); q = (i - r) / base;
          in [ r ] ++ go q;
    in
    assert (lib.isInt base); assert (lib.isInt i); assert (base >= 2); assert (i >= 0);
    lib.reverseList (go i);

  inNixShell = builtins.getEnv "IN_NIX_SHELL" != "";
  release = "nixlite";
  version = "nixlite";
  isInOldestRelease = _: true;
}

# A lib-style program (fixpoints, overlays, callPackage, folds) exercising
# most builtins; compared with nix-instantiate in test_eval_cmd.py.
let
  inherit (builtins) foldl' attrNames listToAttrs map filter length elemAt head tail isAttrs isList concatLists genList;
  fix = f: let x = f x; in x;
  extends = f: rattrs: self: let super = rattrs self; in super // f self super;
  makeExtensible = rattrs: fix (self: rattrs self // { extend = f: makeExtensible (extends f rattrs); });
  foldr = op: nul: list: let len = length list; go = n: if n == len then nul else op (elemAt list n) (go (n + 1)); in go 0;
  mapAttrs' = f: set: listToAttrs (map (attr: f attr set.${attr}) (attrNames set));
  nameValuePair = name: value: { inherit name value; };
  recursiveUpdate = lhs: rhs: lhs // builtins.mapAttrs (n: v: if isAttrs v && lhs ? ${n} && isAttrs lhs.${n} then recursiveUpdate lhs.${n} v else v) rhs;
  flatten = x: if isList x then concatLists (map flatten x) else [ x ];
  range = a: b: genList (i: a + i) (b - a + 1);
  callPackageWith = autoArgs: fn: args:
    let f = if builtins.isFunction fn then fn else import fn;
        fargs = builtins.functionArgs f;
    in f (builtins.intersectAttrs fargs autoArgs // args);
  pkgs = makeExtensible (self: {
    a = 1;
    b = self.a + 1;
    hello = callPackageWith self ({ a, b, c ? 10 }: { sum = a + b + c; }) { };
  });
  pkgs2 = pkgs.extend (self: super: { a = 100; extra = super.b * 2; });
in {
  p1 = { inherit (pkgs) a b hello; };
  p2 = { inherit (pkgs2) a b hello extra; };
  folded = foldr (x: acc: [ x ] ++ acc) [ ] (range 1 5);
  flat = flatten [ 1 [ 2 [ 3 [ ] ] ] [ [ 4 ] ] ];
  renamed = mapAttrs' (n: v: nameValuePair "x_${n}" (v * 2)) { a = 1; b = 2; };
  merged = recursiveUpdate { a = { b = 1; c = 2; }; d = 3; } { a = { c = 20; e = 5; }; f = 6; };
  strs = builtins.concatStringsSep "," (map toString (filter (x: x / 2 * 2 == x) (range 1 20)));
  sorted = builtins.sort (a: b: a > b) (range 1 10);
  versions = builtins.compareVersions "1.2.3" "1.10";
  matched = builtins.match "([a-z]+)-([0-9.]+)" "hello-2.12";
  split = builtins.split "(,)" "a,b,c";
  parsed = builtins.parseDrvName "hello-2.12.1";
  json = builtins.fromJSON (builtins.toJSON { x = [ 1 2.5 "s" null true ]; });
  hashed = builtins.hashString "sha256" "hello";
  replaced = builtins.replaceStrings [ "a" "b" ] [ "1" "22" ] "abcab";
  zipped = builtins.zipAttrsWith (n: vs: vs) [ { a = 1; } { a = 2; b = 3; } ];
  grouped = builtins.groupBy (x: if x > 2 then "big" else "small") [ 1 2 3 4 ];
  part = builtins.partition (x: x > 2) [ 1 2 3 4 ];
  tryThrow = builtins.tryEval (throw "x");
  substr = builtins.substring 1 3 "abcdef";
  bits = [ (builtins.bitAnd 12 10) (builtins.bitOr 12 10) (builtins.bitXor 12 10) ];
  floors = [ (builtins.floor 2.7) (builtins.ceil 2.1) ];
  deep = builtins.deepSeq [ 1 2 ] "ok";
  catAttrs = builtins.catAttrs "a" [ { a = 1; } { b = 2; } { a = 3; } ];
  attrVals = builtins.attrValues { b = 2; a = 1; };
  removed = removeAttrs { a = 1; b = 2; c = 3; } [ "b" ];
  len = builtins.stringLength "héllo";
  fromTOML = builtins.fromTOML "a = 1\n[b]\nc = \"x\"\n";
  splitVersion = builtins.splitVersion "1.2pre3";
}

# Functions on attribute sets.
{ lib }:

let
  inherit (builtins) attrNames attrValues listToAttrs hasAttr getAttr isAttrs head tail
    length elemAt concatMap filter foldl' intersectAttrs removeAttrs;
in
rec {
  inherit (builtins) attrNames attrValues listToAttrs hasAttr getAttr isAttrs intersectAttrs
    removeAttrs catAttrs mapAttrs;

  attrByPath = attrPath: default: set:
    let
      go = n: s:
        if n == length attrPath then s
        else
          let name = elemAt attrPath n; in
          if s ? ${name} then go (n + 1) s.${name} else default;
    in go 0 set;

  hasAttrByPath = attrPath: e:
    let
      go = n: s:
        if n == length attrPath then true
        else
          let name = elemAt attrPath n; in
          if s ? ${name} then go (n + 1) s.${name} else false;
    in go 0 e;

  setAttrByPath = attrPath: value:
    if attrPath == [] then value
    else { ${head attrPath} = setAttrByPath (tail attrPath) value; };

  getAttrFromPath = attrPath: set:
    attrByPath attrPath
      (abort ("cannot find attribute `" + lib.concatStringsSep "." attrPath + "'"))
      set;

  attrVals = nameList: set: map (x: set.${x}) nameList;
  getAttrs = names: attrs: lib.genAttrs names (name: attrs.${name});

  filterAttrs = pred: set:
    removeAttrs set (filter (name: !pred name set.${name}) (attrNames set));

  filterAttrsRecursive = pred: set:
    listToAttrs (concatMap (name:
      let v = set.${name}; in
      if pred name v then [
        (nameValuePair name (if isAttrs v then filterAttrsRecursive pred v else v))
      ] else []
    ) (attrNames set));

  foldAttrs = op: nul: list_of_attrs:
    foldl' (acc: el:
      foldl' (a: n: a // { ${n} = op el.${n} (a.${n} or nul); }) acc (attrNames el)
    ) {} (lib.reverseList list_of_attrs);

  foldlAttrs = f: init: set:
    foldl' (acc: name: f acc name set.${name}) init (attrNames set);

  collect = pred: attrs:
    if pred attrs then [ attrs ]
    else if isAttrs attrs then concatMap (collect pred) (attrValues attrs)
    else [];

  nameValuePair = name: value: { inherit name value; };

  mapAttrs' = f: set: listToAttrs (map (attr: f attr set.${attr}) (attrNames set));
  mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (attrNames attrs);
  attrsToList = mapAttrsToList nameValuePair;
  concatMapAttrs = f: v: foldl' (a: b: a // b) {} (attrValues (builtins.mapAttrs f v));

  mapAttrsRecursive = mapAttrsRecursiveCond (as: true);
  mapAttrsRecursiveCond = cond: f: set:
    let
      recurse = path:
        builtins.mapAttrs (name: value:
          if isAttrs value && cond value
          then recurse (path ++ [ name ]) value
          else f (path ++ [ name ]) value);
    in recurse [] set;

  genAttrs = names: f: listToAttrs (map (n: nameValuePair n (f n)) names);

  isDerivation = value: value.type or null == "derivation";

  toDerivation = path:
    let
      path' = builtins.storePath path;
      res = {
        type = "derivation";
        name = lib.sanitizeDerivationName (builtins.substring 33 (-1) (baseNameOf path'));
        outPath = path';
        outputs = [ "out" ];
        out = res;
        outputName = "out";
      };
    in res;

  optionalAttrs = cond: as: if cond then as else {};

  zipAttrsWithNames = names: f: sets:
    listToAttrs (map (name: {
      inherit name;
      value = f name (builtins.catAttrs name sets);
    }) names);
  zipAttrsWith = builtins.zipAttrsWith
    or (f: sets: zipAttrsWithNames (lib.concatMap attrNames sets) f sets);
  zipAttrs = zipAttrsWith (name: values: values);
  zipWithNames = zipAttrsWithNames;

  recursiveUpdateUntil = pred: lhs: rhs:
    let
      f = attrPath:
        zipAttrsWith (n: values:
          let here = attrPath ++ [ n ]; in
          if length values == 1 || pred here (elemAt values 1) (head values)
          then head values
          else f here values);
    in f [] [ rhs lhs ];

  recursiveUpdate = lhs: rhs:
    recursiveUpdateUntil (path: lhs: rhs: !(isAttrs lhs && isAttrs rhs)) lhs rhs;

  matchAttrs = pattern: attrs:
    assert isAttrs pattern;
    lib.all lib.id (attrValues (zipAttrsWithNames (attrNames pattern) (n: values:
      let pat = head values; val = elemAt values 1; in
      if length values == 1 then false
      else if isAttrs pat then isAttrs val && matchAttrs pat val
      else pat == val
    ) [ pattern attrs ]));

  overrideExisting = old: new: builtins.mapAttrs (name: value: new.${name} or value) old;

  unionOfDisjoint = x: y:
    let
      intersection = intersectAttrs x y;
      collisions = lib.concatStringsSep " " (attrNames intersection);
      mask = builtins.mapAttrs (name: value: throw
        "unionOfDisjoint: collision on ${name}; complete list: ${collisions}") intersection;
    in (x // y) // mask;

  cartesianProduct = attrsOfLists:
    foldl' (listOfAttrs: attrName:
      concatMap (attrs:
        map (listValue: attrs // { ${attrName} = listValue; }) attrsOfLists.${attrName}
      ) listOfAttrs
    ) [ {} ] (attrNames attrsOfLists);
  cartesianProductOfSets = cartesianProduct;

  getOutput = output: pkg:
    if !pkg ? outputSpecified || !pkg.outputSpecified
    then pkg.${output} or pkg.out or pkg
    else pkg;
  getBin = getOutput "bin";
  getLib = getOutput "lib";
  getDev = getOutput "dev";
  getMan = getOutput "man";
  chooseDevOutputs = builtins.map getDev;

  recurseIntoAttrs = attrs: attrs // { recurseForDerivations = true; };
  dontRecurseIntoAttrs = attrs: attrs // { recurseForDerivations = false; };
}

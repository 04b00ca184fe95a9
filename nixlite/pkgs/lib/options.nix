# Declaring options and merging their definitions.
{ lib }:

let
  inherit (builtins) length head tail all isFunction isList isAttrs isBool isString isInt
    concatLists foldl' concatStringsSep;
in
rec {
  mkOption =
    { default ? null, defaultText ? null, example ? null, description ? null
    , relatedPackages ? null, type ? null, apply ? null, internal ? null, visible ? null
    , readOnly ? null
    }@attrs:
    attrs // { _type = "option"; };

  mkEnableOption = name: mkOption {
    default = false;
    example = true;
    description = "Whether to enable ${name}.";
    type = lib.types.bool;
  };

  mkPackageOption = pkgs: name: { default ? [ name ], example ? null, nullable ? false, extraDescription ? "" }:
    let
      path = if isList default then default else [ default ];
      defaultValue = lib.attrByPath path (throw "${concatStringsSep "." path} cannot be found in pkgs") pkgs;
    in mkOption {
      type = if nullable then lib.types.nullOr lib.types.package else lib.types.package;
      default = defaultValue;
      description = "The ${concatStringsSep "." path} package to use." + extraDescription;
    } // lib.optionalAttrs (example != null) { inherit example; };

  isOption = lib.isType "option";

  literalExpression = text: { _type = "literalExpression"; inherit text; };
  literalExample = literalExpression;
  literalMD = text: { _type = "literalMD"; inherit text; };

  getValues = map (x: x.value);
  getFiles = map (x: x.file);

  showOption = parts: concatStringsSep "." (map (part:
    if part == "*" || part == "<name>" || lib.hasPrefix "[" part then part
    else lib.strings.escapeNixIdentifier part) parts);
  showFiles = files: concatStringsSep " and " (map (f: "`${toString f}'") files);
  showDefs = defs: lib.concatMapStrings (def:
    "\n- In `${toString def.file}': ${lib.generators.toPretty {} def.value}") defs;

  mergeDefaultOption = loc: defs:
    let list = getValues defs; in
    if length list == 1 then head list
    else if all isFunction list then x: mergeDefaultOption loc (map (f: f x) list)
    else if all isList list then concatLists list
    else if all isAttrs list then foldl' lib.mergeAttrs {} list
    else if all isBool list then foldl' lib.or false list
    else if all isString list then lib.concatStrings list
    else if all isInt list && all (x: x == head list) list then head list
    else throw "Cannot merge definitions of `${showOption loc}'. Definition values:${showDefs defs}";

  mergeOneOption = loc: defs:
    if length defs == 1 then (head defs).value
    else throw "The option `${showOption loc}' is defined multiple times while it's expected to be unique.\nDefinition values:${showDefs defs}";

  mergeEqualOption = loc: defs:
    if defs == [] then abort "This case should never happen."
    else if length defs == 1 then (head defs).value
    else (foldl' (first: def:
      if def.value != first.value
      then throw "The option `${showOption loc}' has conflicting definition values:${showDefs [ first def ]}"
      else first) (head defs) (tail defs)).value;
}

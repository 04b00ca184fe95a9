# Values written out as configuration file formats and as pretty Nix.
{ lib }:

let
  inherit (builtins) isInt isFloat isString isList isAttrs isPath isBool toJSON
    concatStringsSep filter split length;
in
rec {
  mkValueStringDefault = {}: v:
    if isInt v then toString v
    else if lib.isDerivation v then toString v
    else if isString v then v
    else if true == v then "true"
    else if false == v then "false"
    else if null == v then "null"
    else if isFloat v then lib.strings.floatToString or toString v
    else if isPath v then toString v
    else throw "generators.mkValueStringDefault: ${builtins.typeOf v} not supported: ${toPretty {} v}";

  mkKeyValueDefault = { mkValueString ? mkValueStringDefault {} }: sep: k: v:
    "${lib.strings.escape [ sep ] k}${sep}${mkValueString v}";

  toKeyValue = { mkKeyValue ? mkKeyValueDefault {} "=", listsAsDuplicateKeys ? false, indent ? "" }:
    let
      mkLine = k: v: indent + mkKeyValue k v + "\n";
      mkLines = if listsAsDuplicateKeys
        then k: v: map (mkLine k) (if isList v then v else [ v ])
        else k: v: [ (mkLine k v) ];
    in attrs: lib.concatStrings (lib.concatLists (lib.mapAttrsToList mkLines attrs));

  toINI = { mkSectionName ? (name: lib.strings.escape [ "[" "]" ] name),
            mkKeyValue ? mkKeyValueDefault {} "=", listsAsDuplicateKeys ? false }:
    attrsOfAttrs:
    let
      mkSection = sectName: sectValues: ''
        [${mkSectionName sectName}]
      '' + toKeyValue { inherit mkKeyValue listsAsDuplicateKeys; } sectValues;
    in concatStringsSep "\n" (lib.mapAttrsToList mkSection attrsOfAttrs);

  toJSON = {}: builtins.toJSON;
  toYAML = {}: builtins.toJSON;

  # Nix syntax for a value, on several lines (`multiline`) or one.
  toPretty = { allowPrettyValues ? false, multiline ? true, indent ? "" }:
    let
      go = indent: v:
        let
          introSpace = if multiline then "\n${indent}  " else " ";
          outroSpace = if multiline then "\n${indent}" else " ";
        in
        if isInt v then toString v
        else if isFloat v then builtins.toJSON v
        else if isString v then
          let
            lines = filter (l: !isList l) (split "\n" v);
            single = "\"" + concatStringsSep "\\n"
              (map (lib.strings.escape [ "\\" "\"" "\${" ]) lines) + "\"";
            escaped = map (builtins.replaceStrings [ "\${" "''" ] [ "''\${" "'''" ]) lines;
            lastLine = lib.last escaped;
            multi = "''" + introSpace + concatStringsSep introSpace (lib.init escaped)
              + (if lastLine == "" then outroSpace else introSpace + lastLine) + "''";
          in if multiline && length lines > 1 then multi else single
        else if true == v then "true"
        else if false == v then "false"
        else if null == v then "null"
        else if isPath v then toString v
        else if isList v then
          if v == [] then "[ ]"
          else "[" + introSpace + lib.concatMapStringsSep introSpace (go (indent + "  ")) v
            + outroSpace + "]"
        else if lib.isFunction v then
          let
            fargs = lib.functionArgs v;
            shown = concatStringsSep ", "
              (lib.mapAttrsToList (name: hasDefault: if hasDefault then name + "?" else name) fargs);
          in if fargs == {} then "<function>" else "<function, args: {${shown}}>"
        else if isAttrs v then
          if allowPrettyValues && v ? __pretty && v ? val then v.__pretty v.val
          else if v == {} then "{ }"
          else if v ? type && v.type == "derivation" then "<derivation ${v.name or "???"}>"
          else "{" + introSpace + concatStringsSep introSpace (lib.mapAttrsToList (name: value:
            "${lib.strings.escapeNixIdentifier name} = ${
              builtins.addErrorContext "while evaluating an attribute `${name}`"
                (go (indent + "  ") value)};") v) + outroSpace + "}"
        else abort "generators.toPretty: should never happen (v = ${v})";
    in go indent;
}

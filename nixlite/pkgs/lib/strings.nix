# Functions on strings.
{ lib }:

let
  inherit (builtins) length head tail elem elemAt filter match split substring stringLength
    replaceStrings isString isList isAttrs isPath toJSON concatStringsSep storeDir
    unsafeDiscardStringContext;
in
rec {
  inherit (builtins) compareVersions concatStringsSep fromJSON toJSON isString match
    parseDrvName readFile replaceStrings split storeDir stringLength substring typeOf
    unsafeDiscardStringContext hashString;

  concatStrings = concatStringsSep "";
  concatMapStrings = f: list: concatStrings (map f list);
  concatImapStrings = f: list: concatStrings (lib.imap1 f list);
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  concatImapStringsSep = sep: f: list: concatStringsSep sep (lib.imap1 f list);
  concatLines = concatMapStrings (s: s + "\n");
  join = concatStringsSep;

  intersperse = separator: list:
    if list == [] || length list == 1 then list
    else tail (lib.concatMap (x: [ separator x ]) list);

  makeSearchPath = subDir: paths:
    concatStringsSep ":" (map (path: path + "/" + subDir) (filter (x: x != null) paths));
  makeSearchPathOutput = output: subDir: pkgs:
    makeSearchPath subDir (map (lib.getOutput output) pkgs);
  makeLibraryPath = makeSearchPathOutput "lib" "lib";
  makeIncludePath = makeSearchPathOutput "dev" "include";
  makeBinPath = makeSearchPathOutput "bin" "bin";

  normalizePath = s:
    builtins.foldl' (x: y: if y == "/" && hasSuffix "/" x then x else x + y) ""
      (stringToCharacters s);

  optionalString = cond: string: if cond then string else "";

  hasPrefix = pref: str: substring 0 (stringLength pref) str == pref;
  hasSuffix = suffix: content:
    let n = stringLength content; k = stringLength suffix; in
    n >= k && substring (n - k) n content == suffix;
  hasInfix = infix: content: match ".*${escapeRegex infix}.*" "${content}" != null;

  removePrefix = prefix: str:
    let k = stringLength prefix; in
    if substring 0 k str == prefix then substring k (stringLength str - k) str else str;
  removeSuffix = suffix: str:
    let k = stringLength suffix; n = stringLength str; in
    if k <= n && substring (n - k) k str == suffix then substring 0 (n - k) str else str;

  stringToCharacters = s: builtins.genList (p: substring p 1 s) (stringLength s);
  stringAsChars = f: s: concatStrings (map f (stringToCharacters s));

  escape = list: replaceStrings list (map (c: "\\${c}") list);
  escapeRegex = escape (stringToCharacters "\\[{()^$?*+|.");
  escapeShellArg = arg:
    let string = toString arg; in
    if match "[[:alnum:],._+:@%/-]+" string == null
    then "'${replaceStrings [ "'" ] [ "'\\''" ] string}'"
    else string;
  escapeShellArgs = concatMapStringsSep " " escapeShellArg;
  escapeNixString = s: escape [ "$" ] (toJSON s);
  escapeNixIdentifier = s:
    if match "[a-zA-Z_][a-zA-Z0-9_'-]*" s != null
      && !elem s [ "assert" "else" "if" "in" "inherit" "let" "or" "rec" "then" "with" ]
    then s
    else escapeNixString s;
  escapeXML = replaceStrings [ "\"" "'" "<" ">" "&" ] [ "&quot;" "&apos;" "&lt;" "&gt;" "&amp;" ];

  isValidPosixName = name: match "[a-zA-Z_][a-zA-Z0-9_]*" name != null;
  toShellVar = name: value:
    lib.throwIfNot (isValidPosixName name) "toShellVar: ${name} is not a valid shell variable name" (
      if isAttrs value && !isStringLike value then
        "declare -A ${name}=(${concatStringsSep " "
          (lib.mapAttrsToList (n: v: "[${escapeShellArg n}]=${escapeShellArg v}") value)})"
      else if isList value then "declare -a ${name}=(${escapeShellArgs value})"
      else "${name}=${escapeShellArg value}");
  toShellVars = vars: concatStringsSep "\n" (lib.mapAttrsToList toShellVar vars);

  replaceChars = replaceStrings;
  lowerChars = stringToCharacters "abcdefghijklmnopqrstuvwxyz";
  upperChars = stringToCharacters "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  toLower = replaceStrings upperChars lowerChars;
  toUpper = replaceStrings lowerChars upperChars;

  addContextFrom = a: b: substring 0 0 a + b;

  splitString = sep: s:
    map (addContextFrom s)
      (filter isString (split (escapeRegex (toString sep)) (toString s)));

  versionOlder = v1: v2: compareVersions v2 v1 == 1;
  versionAtLeast = v1: v2: !versionOlder v1 v2;

  getName = x: if isString x then (parseDrvName x).name else x.pname or (parseDrvName x.name).name;
  getVersion = x:
    if isString x then (parseDrvName x).version else x.version or (parseDrvName x.name).version;

  nameFromURL = url: sep:
    let
      filename = lib.last (splitString "/" url);
      name = head (splitString sep filename);
    in assert name != filename; name;

  enableFeature = flag: feature:
    assert lib.assertMsg (isString feature)
      "enableFeature feature must be a string but is ${builtins.typeOf feature}";
    "--${if flag then "enable" else "disable"}-${feature}";
  enableFeatureAs = flag: feature: value:
    enableFeature flag feature + optionalString flag "=${value}";
  withFeature = flag: feature:
    assert lib.assertMsg (isString feature)
      "withFeature feature must be a string but is ${builtins.typeOf feature}";
    "--${if flag then "with" else "without"}-${feature}";
  withFeatureAs = flag: feature: value:
    withFeature flag feature + optionalString flag "=${value}";

  cmakeOptionType = type: feature: value:
    "-D${feature}:${toUpper type}=${value}";
  cmakeBool = condition: flag: cmakeOptionType "bool" condition (toUpper (lib.boolToString flag));
  cmakeFeature = feature: value: cmakeOptionType "string" feature value;
  mesonOption = feature: value: "-D${feature}=${value}";
  mesonBool = condition: flag: mesonOption condition (lib.boolToString flag);
  mesonEnable = feature: flag: mesonOption feature (if flag then "enabled" else "disabled");

  fixedWidthString = width: filler: str:
    let strw = stringLength str; in
    assert lib.assertMsg (strw <= width)
      "fixedWidthString: requested string length (${toString width}) must not be shorter than actual length (${toString strw})";
    if strw == width then str else filler + fixedWidthString (width - stringLength filler) filler str;
  fixedWidthNumber = width: n: fixedWidthString width "0" (toString n);

  isStringLike = x: isString x || isPath x || x ? outPath || x ? __toString;
  isStorePath = x:
    if isStringLike x then
      let str = toString x; in substring 0 1 str == "/" && dirOf str == storeDir
    else false;

  toInt = str:
    let
      stripped = match "[[:space:]]*(-?[[:digit:]]+)[[:space:]]*" str;
      parsed = fromJSON (head stripped);
      generalError = "toInt: Could not convert ${escapeNixString str} to int.";
    in
    if stripped == null then throw generalError
    else if match "0[[:digit:]]+" (head stripped) == [] then
      throw "toInt: Ambiguity in interpretation of ${escapeNixString str} between octal and zero padded integer."
    else if !builtins.isInt parsed then throw generalError
    else parsed;

  toIntBase10 = str:
    let
      stripped = match "[[:space:]]*0*(-?[[:digit:]]+)[[:space:]]*" str;
      parsed = fromJSON (head stripped);
      generalError = "toIntBase10: Could not convert ${escapeNixString str} to int.";
    in
    if stripped == null then throw generalError
    else if head stripped == "0" then 0
    else if !builtins.isInt parsed then throw generalError
    else parsed;

  fileContents = file: removeSuffix "\n" (builtins.readFile file);

  sanitizeDerivationName = string:
    if stringLength string <= 207 && match "[[:alnum:]+_?=-][[:alnum:]+._?=-]*" string != null
    then unsafeDiscardStringContext string
    else lib.pipe string [
      unsafeDiscardStringContext
      (x: elemAt (match "\\.*(.*)" x) 0)
      (split "[^[:alnum:]+._?=-]+")
      (concatMapStrings (s: if isList s then "-" else s))
      (x: substring (lib.max (stringLength x - 207) 0) (-1) x)
      (x: if stringLength x == 0 then "unknown" else x)
    ];

  trimWith = { start ? false, end ? false }:
    let
      chars = " \t\r\n";
      regex =
        if start && end then "[${chars}]*(.*[^${chars}])[${chars}]*"
        else if start then "[${chars}]*(.*)"
        else if end then "(.*[^${chars}])[${chars}]*"
        else "(.*)";
    in s: let res = match regex s; in optionalString (res != null) (head res);
  trim = trimWith { start = true; end = true; };
}

# Option types: what a definition must look like and how several definitions merge.
{ lib }:

let
  inherit (builtins) isInt isFloat isString isList isAttrs isBool length head tail
    concatLists filter elem;
  inherit (lib.options) mergeOneOption mergeEqualOption mergeDefaultOption showOption
    showFiles getFiles getValues;
  inherit (lib.modules) mergeDefinitions;
in
rec {
  isType = type: x: (x._type or "") == type;
  setType = typeName: value: value // { _type = typeName; };
  isOptionType = isType "option-type";

  mkOptionType =
    { name, description ? null, check ? (x: true), merge ? mergeDefaultOption
    , getSubOptions ? prefix: {}, nestedTypes ? {}, emptyValue ? {}, descriptionClass ? null
    , ...
    }@attrs:
    {
      _type = "option-type";
      inherit name check merge getSubOptions nestedTypes emptyValue;
      description = if description == null then name else description;
    };

  types = rec {
    raw = mkOptionType { name = "raw"; description = "raw value"; merge = mergeOneOption; };
    unspecified = mkOptionType { name = "unspecified"; };
    anything = mkOptionType {
      name = "anything";
      description = "anything";
      merge = loc: defs:
        let values = getValues defs; in
        if lib.all isAttrs values && !lib.any lib.isDerivation values
        then (attrsOf anything).merge loc defs
        else if lib.all isList values then concatLists values
        else if lib.all lib.isFunction values
        then x: anything.merge (loc ++ [ "<function body>" ])
          (map (def: def // { value = def.value x; }) defs)
        else mergeEqualOption loc defs;
    };

    bool = mkOptionType { name = "bool"; description = "boolean"; check = isBool; merge = mergeEqualOption; };
    int = mkOptionType { name = "int"; description = "signed integer"; check = isInt; merge = mergeEqualOption; };
    ints = rec {
      between = lowest: highest: addCheck int (x: x >= lowest && x <= highest) // {
        name = "intBetween";
        description = "integer between ${toString lowest} and ${toString highest} (both inclusive)";
      };
      unsign = bits: between 0 (bitsMax bits);
      sign = bits: between (-(bitsMax (bits - 1)) - 1) (bitsMax (bits - 1));
      bitsMax = bits: (lib.foldl' (x: _: x * 2) 1 (lib.range 1 bits)) - 1;
      unsigned = addCheck int (x: x >= 0) // { name = "unsignedInt"; description = "unsigned integer, meaning >=0"; };
      positive = addCheck int (x: x > 0) // { name = "positiveInt"; description = "positive integer, meaning >0"; };
      u8 = unsign 8; u16 = unsign 16; u32 = unsign 32;
      s8 = sign 8; s16 = sign 16; s32 = sign 32;
    };
    port = ints.u16;
    float = mkOptionType { name = "float"; description = "floating point number"; check = isFloat; merge = mergeEqualOption; };
    number = either int float;

    str = mkOptionType { name = "str"; description = "string"; check = isString; merge = mergeEqualOption; };
    nonEmptyStr = strMatching "(.|\n)*[^[:space:]](.|\n)*";
    singleLineStr = strMatching "[^\n\r]*\n?" // { name = "singleLineStr"; };
    strMatching = pattern: mkOptionType {
      name = "strMatching ${lib.strings.escapeNixString pattern}";
      description = "string matching the pattern ${pattern}";
      check = x: isString x && builtins.match pattern x != null;
      merge = mergeEqualOption;
    };
    separatedString = sep: mkOptionType {
      name = "separatedString";
      description = if sep == "" then "Concatenated string" else "strings concatenated with ${builtins.toJSON sep}";
      check = isString;
      merge = loc: defs: builtins.concatStringsSep sep (getValues defs);
    };
    lines = separatedString "\n";
    commas = separatedString ",";
    envVar = separatedString ":";
    string = separatedString "";

    path = mkOptionType {
      name = "path";
      description = "path";
      check = x: lib.isStringLike x && builtins.substring 0 1 (toString x) == "/";
      merge = mergeEqualOption;
    };
    package = mkOptionType {
      name = "package";
      description = "package";
      check = x: lib.isDerivation x || lib.isStorePath x;
      merge = loc: defs:
        let res = mergeOneOption loc defs; in
        if builtins.isPath res || (isString res && !builtins.hasContext res)
        then lib.toDerivation res else res;
    };
    attrs = mkOptionType {
      name = "attrs";
      description = "attribute set";
      check = isAttrs;
      merge = loc: lib.foldl' (res: def: res // def.value) {};
    };

    listOf = elemType: mkOptionType {
      name = "listOf";
      description = "list of ${elemType.description}";
      check = isList;
      merge = loc: defs:
        map (x: x.value) (filter (x: x ? value) (concatLists (lib.imap1 (n: def:
          lib.imap1 (m: value:
            (mergeDefinitions (loc ++ [ "[definition ${toString n}-entry ${toString m}]" ])
              elemType [ { inherit (def) file; inherit value; } ]).optionalValue
          ) def.value) defs)));
      nestedTypes.elemType = elemType;
    };
    nonEmptyListOf = elemType: addCheck (listOf elemType) (l: l != []);

    attrsOf = elemType: mkOptionType {
      name = "attrsOf";
      description = "attribute set of ${elemType.description}";
      check = isAttrs;
      merge = loc: defs:
        builtins.mapAttrs (n: v: v.value) (lib.filterAttrs (n: v: v ? value)
          (lib.zipAttrsWith (name: defs: (mergeDefinitions (loc ++ [ name ]) elemType defs).optionalValue)
            (map (def: builtins.mapAttrs (n: value: { inherit (def) file; inherit value; }) def.value)
              (lib.modules.pushDownDefinitions defs))));
      nestedTypes.elemType = elemType;
    };
    lazyAttrsOf = attrsOf;

    uniq = elemType: mkOptionType {
      inherit (elemType) name description check;
      merge = mergeOneOption;
    };
    unique = { message }: uniq;

    nullOr = elemType: mkOptionType {
      name = "nullOr";
      description = "null or ${elemType.description}";
      check = x: x == null || elemType.check x;
      merge = loc: defs:
        let nulls = lib.count (def: def.value == null) defs; in
        if nulls == length defs then null
        else if nulls != 0 then
          throw "The option `${showOption loc}` is defined both null and not null, in ${showFiles (getFiles defs)}."
        else elemType.merge loc defs;
      nestedTypes.elemType = elemType;
    };

    functionTo = elemType: mkOptionType {
      name = "functionTo";
      description = "function that evaluates to a(n) ${elemType.description}";
      check = lib.isFunction;
      merge = loc: defs: fnArgs:
        (mergeDefinitions (loc ++ [ "<function body>" ]) elemType
          (map (fn: { inherit (fn) file; value = fn.value fnArgs; }) defs)).mergedValue;
    };

    enum = values: mkOptionType {
      name = "enum";
      description = "one of ${builtins.concatStringsSep ", " (map builtins.toJSON values)}";
      check = x: elem x values;
      merge = mergeEqualOption;
    };

    either = t1: t2: mkOptionType {
      name = "either";
      description = "${t1.description} or ${t2.description}";
      check = x: t1.check x || t2.check x;
      merge = loc: defs:
        let values = getValues defs; in
        if lib.all t1.check values then t1.merge loc defs
        else if lib.all t2.check values then t2.merge loc defs
        else mergeOneOption loc defs;
    };
    oneOf = ts: lib.foldl' either (head ts) (tail ts);

    coercedTo = coercedType: coerceFunc: finalType: mkOptionType {
      name = "coercedTo";
      description = "${finalType.description} or ${coercedType.description} convertible to it";
      check = x: (coercedType.check x && finalType.check (coerceFunc x)) || finalType.check x;
      merge = loc: defs:
        finalType.merge loc (map (def: def // {
          value = if coercedType.check def.value then coerceFunc def.value else def.value;
        }) defs);
    };

    addCheck = elemType: check: elemType // { check = x: elemType.check x && check x; };

    submoduleWith = { modules, specialArgs ? {}, shorthandOnlyDefinesConfig ? false, description ? null }:
      mkOptionType {
        name = "submodule";
        description = if description != null then description else "submodule";
        check = x: isAttrs x || lib.isFunction x || builtins.isPath x;
        merge = loc: defs:
          (lib.evalModules {
            inherit specialArgs;
            prefix = loc;
            modules = modules
              ++ [ { _module.args.name = lib.mkOptionDefault (lib.last loc); } ]
              ++ map (def: { _file = def.file; imports = [ def.value ]; }) defs;
          }).config;
        getSubOptions = prefix: (lib.evalModules { inherit modules specialArgs prefix; }).options;
      };
    submodule = modules: submoduleWith {
      shorthandOnlyDefinesConfig = true;
      modules = lib.toList modules;
    };
    deferredModule = mkOptionType {
      name = "deferredModule";
      description = "module";
      check = x: isAttrs x || lib.isFunction x || builtins.isPath x;
      merge = loc: defs: { imports = map (def: { _file = def.file; imports = [ def.value ]; }) defs; };
    };
  };
}

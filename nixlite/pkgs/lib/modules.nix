# The module system's basics: modules with imports, options and config; definitions
# merged by type, with mkIf/mkMerge/mkOverride/mkOrder.
{ lib }:

let
  inherit (builtins) isAttrs isFunction isPath isString isList attrNames concatMap filter
    length head foldl' elem removeAttrs mapAttrs;
  inherit (lib.options) isOption showOption mkOption;
in
rec {
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkAssert = assertion: message: content:
    mkIf (if assertion then true else throw "\nFailed assertion: ${message}") content;
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkImageMediaOverride = mkOverride 60;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  mkOrder = priority: content: { _type = "order"; inherit priority content; };
  mkBefore = mkOrder 500;
  mkAfter = mkOrder 1500;
  defaultOverridePriority = 100;
  defaultOrderPriority = 1000;

  applyModuleArgsIfFunction = key: f: args:
    if isFunction f then
      f (mapAttrs (name: _: args.${name} or (throw
        "evalModules: module ${toString key} wants the argument '${name}', which no module or specialArgs gives"))
        (lib.functionArgs f))
    else f;

  # A module as { key, file, imports, options, config }.
  normalise = file: key: m:
    let m' = removeAttrs m [ "_class" ]; in
    if m' ? config || m' ? options then {
      key = m'.key or key;
      file = m'._file or file;
      imports = m'.imports or [];
      options = m'.options or {};
      config = m'.config or {};
    } else {
      key = m'.key or key;
      file = m'._file or file;
      imports = m'.imports or [];
      options = {};
      config = removeAttrs m' [ "_file" "key" "imports" "meta" "disabledModules" "freeformType" ];
    };

  # Every module reachable through imports, each once (by key: a file's path, or for an
  # anonymous module its place in the import tree).
  collectModules = args: modules:
    let
      load = parent: index: m:
        let
          isFile = isPath m || isString m;
          file = if isFile then toString m else parent.file;
          key = if isFile then toString m else "${parent.key}:anon-${toString index}";
          value = applyModuleArgsIfFunction key (if isFile then import m else m) args;
        in normalise file key value;
      item = module: { key = module.key; inherit module; };
      root = { file = "<unknown-file>"; key = ""; };
      closure = builtins.genericClosure {
        startSet = lib.imap1 (i: m: item (load root i m)) modules;
        operator = parent: lib.imap1 (i: m: item (load parent.module i m)) parent.module.imports;
      };
    # nixpkgs merges definitions with the last-collected module's first.
    in lib.reverseList (map (entry: entry.module) closure);

  # Definitions under mkIf/mkMerge/mkOverride/mkOrder, pushed into an attribute set's
  # values so names are known without evaluating conditions.
  pushDownProperties = cfg:
    if cfg._type or "" == "merge" then concatMap pushDownProperties cfg.contents
    else if cfg._type or "" == "if" then
      map (mapAttrs (n: v: mkIf cfg.condition v)) (pushDownProperties cfg.content)
    else if cfg._type or "" == "override" then
      map (mapAttrs (n: v: mkOverride cfg.priority v)) (pushDownProperties cfg.content)
    else [ cfg ];
  pushDownDefinitions = defs:
    concatMap (def: map (value: { inherit (def) file; inherit value; }) (pushDownProperties def.value)) defs;

  dischargeProperties = def:
    if def._type or "" == "merge" then concatMap dischargeProperties def.contents
    else if def._type or "" == "if" then
      if !builtins.isBool def.condition
      then throw "mkIf called with a non-Boolean condition"
      else if def.condition then dischargeProperties def.content else []
    else [ def ];

  filterOverrides = defs:
    let
      priorityOf = def: if def.value._type or "" == "override" then def.value.priority else defaultOverridePriority;
      highest = foldl' (p: def: lib.min p (priorityOf def)) 9999 defs;
      strip = def: if def.value._type or "" == "override" then def // { value = def.value.content; } else def;
    in map strip (filter (def: priorityOf def == highest) defs);

  sortProperties = defs:
    let
      strip = def:
        if def.value._type or "" == "order"
        then def // { value = def.value.content; inherit (def.value) priority; }
        else def;
    in builtins.sort (a: b: (a.priority or defaultOrderPriority) < (b.priority or defaultOrderPriority))
      (map strip defs);

  # Definitions of one option, merged by its type: { mergedValue, optionalValue, … }.
  mergeDefinitions = loc: type: defs:
    let
      discharged = concatMap (def:
        map (value: { inherit (def) file; inherit value; }) (dischargeProperties def.value)) defs;
      defsFinal = lib.modules.sortProperties (filterOverrides discharged);
      isDefined = defsFinal != [];
      checked = map (def:
        if type.check def.value then def
        else throw "A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values:${lib.options.showDefs [ def ]}"
      ) defsFinal;
      mergedValue =
        if isDefined then type.merge loc checked
        else throw "The option `${showOption loc}' is used but not defined.";
    in {
      inherit isDefined mergedValue defsFinal;
      optionalValue = if isDefined then { value = mergedValue; } else {};
    };

  evalOptionValue = loc: opt: defs:
    let
      type = opt.type or lib.types.unspecified;
      withDefault =
        lib.optional (opt ? default) { file = "<default>"; value = mkOptionDefault opt.default; }
        ++ defs;
      merged = mergeDefinitions loc type withDefault;
    in if opt ? apply then opt.apply merged.mergedValue else merged.mergedValue;

  # Declarations merged into one tree; an option's several declarations are combined.
  mergeOptionDecls = decls:
    let
      tree = foldl' (acc: decl: lib.recursiveUpdateUntil
        (path: l: r: isOption l || isOption r) acc decl) {} decls;
    in tree;

  # config for one level of the option tree from the definitions at that level.
  evalOptionTree = loc: options: defs:
    let
      pushed = pushDownDefinitions defs;
      defsFor = name: concatMap (def:
        if def.value ? ${name} then [ { inherit (def) file; value = def.value.${name}; } ] else []) pushed;
      undeclared = concatMap (def:
        map (name: { inherit name; inherit (def) file; })
          (filter (name: !(options ? ${name})) (attrNames def.value))) pushed;
      values = mapAttrs (name: opt:
        if isOption opt then evalOptionValue (loc ++ [ name ]) opt (defsFor name)
        else evalOptionTree (loc ++ [ name ]) opt (defsFor name)) options;
    in
    if undeclared != [] then
      let first = head undeclared; in
      throw "The option `${showOption (loc ++ [ first.name ])}' does not exist. Definition values:\n- In `${toString first.file}'"
    else values;

  evalModules = { modules, prefix ? [], args ? {}, specialArgs ? {}, check ? true, class ? null }:
    let
      builtinModule = {
        _file = "lib/modules.nix";
        options._module.args = mkOption { type = lib.types.lazyAttrsOf lib.types.raw; };
        options._module.check = mkOption { type = lib.types.bool; default = check; };
        config._module.args = args;
      };
      moduleArgs = config._module.args // specialArgs // {
        inherit lib options config specialArgs;
        _prefix = prefix;
      };
      collected = collectModules moduleArgs ([ builtinModule ] ++ modules);
      options = mergeOptionDecls (map (m: m.options) collected);
      config = evalOptionTree prefix options (map (m: { inherit (m) file; value = m.config; }) collected);
    in {
      inherit options config;
      _module = config._module;
      extendModules = extra: evalModules {
        modules = modules ++ extra.modules or [];
        inherit args check;
        specialArgs = specialArgs // extra.specialArgs or {};
        prefix = extra.prefix or prefix;
      };
    };
}

# Overridable functions and derivations, and callPackage.
{ lib }:

let
  inherit (builtins) attrNames intersectAttrs isAttrs listToAttrs removeAttrs;
  inherit (lib) isFunction functionArgs setFunctionArgs mirrorFunctionArgs optionalAttrs
    filterAttrs concatMapStringsSep;
in
rec {
  # Rebuilds a derivation from its attributes changed by `f`, keeping passthru and meta.
  overrideDerivation = drv: f:
    let newDrv = derivation (drv.drvAttrs // (f drv)); in
    extendDerivation (builtins.seq drv.meta or null true)
      ({ meta = drv.meta or {}; passthru = drv.passthru or {}; } // (drv.passthru or {}))
      newDrv;

  # `f args` with `.override newArgs` (calls f again with changed arguments) and, on
  # derivations, `.overrideDerivation` and `.overrideAttrs` that keep `.override` working.
  makeOverridable = f:
    let mirrorArgs = mirrorFunctionArgs f; in
    mirrorArgs (origArgs:
      let
        result = f origArgs;
        overrideWith = newArgs: origArgs // (if isFunction newArgs then newArgs origArgs else newArgs);
        overrideArgs = mirrorArgs (newArgs: makeOverridable f (overrideWith newArgs));
        overrideResult = g: makeOverridable (mirrorArgs (args: g (f args))) origArgs;
      in
      if isAttrs result then
        result // {
          override = overrideArgs;
          overrideDerivation = fdrv: overrideResult (x: overrideDerivation x fdrv);
          ${if result ? overrideAttrs then "overrideAttrs" else null} =
            fdrv: overrideResult (x: x.overrideAttrs fdrv);
        }
      else if isFunction result then
        setFunctionArgs result (functionArgs result) // { override = overrideArgs; }
      else result);

  # Calls `fn` (a function or a file) with the arguments it names taken from `autoArgs`,
  # overridden by `args`.
  callPackageWith = autoArgs: fn: args:
    let
      f = if isFunction fn then fn else import fn;
      fargs = functionArgs f;
      allArgs = intersectAttrs fargs autoArgs // args;
      missingArgs = attrNames (filterAttrs (name: hasDefault: !hasDefault)
        (removeAttrs fargs (attrNames allArgs)));
      arg = builtins.head missingArgs;
      loc = builtins.unsafeGetAttrPos arg fargs;
      where =
        if loc != null then "${loc.file}:${toString loc.line}"
        else if !isFunction fn then toString fn
          + lib.optionalString (builtins.pathExists (toString fn + "/default.nix")) "/default.nix"
        else "<unknown location>";
    in
    if missingArgs == [] then makeOverridable f allArgs
    else abort "lib.customisation.callPackageWith: Function called without required argument \"${arg}\" at ${where}";

  # Like callPackageWith for a function that returns a set of derivations: each one
  # gets its own `.override`.
  callPackagesWith = autoArgs: fn: args:
    let
      f = if isFunction fn then fn else import fn;
      auto = intersectAttrs (functionArgs f) autoArgs;
      mirrorArgs = mirrorFunctionArgs f;
      origArgs = auto // args;
      pkgs = f origArgs;
      mkAttrOverridable = name: _: makeOverridable (mirrorArgs (newArgs: (f newArgs).${name})) origArgs;
    in
    if lib.isDerivation pkgs then
      throw "function passed to `callPackagesWith` returned a derivation; use `callPackageWith` instead"
    else builtins.mapAttrs mkAttrOverridable pkgs;

  # Adds `passthru` to a derivation and to each of its outputs; `condition` guards the
  # paths (an assertion that fails when they are used).
  extendDerivation = condition: passthru: drv:
    let
      outputs = drv.outputs or [ "out" ];
      commonAttrs = drv // listToAttrs outputsList // { all = map (x: x.value) outputsList; }
        // passthru;
      outputsList = map (outputName: {
        name = outputName;
        value = commonAttrs // {
          inherit (drv.${outputName}) type outputName;
          outputSpecified = true;
          drvPath = assert condition; drv.${outputName}.drvPath;
          outPath = assert condition; drv.${outputName}.outPath;
        } // optionalAttrs (passthru ? overrideAttrs) {
          overrideAttrs = f: (passthru.overrideAttrs f).${outputName};
        };
      }) outputs;
    in
    commonAttrs // {
      drvPath = assert condition; drv.drvPath;
      outPath = assert condition; drv.outPath;
    };

  hydraJob = drv: drv;

  # A package scope: `callPackage` that sees the scope's own members, `newScope`,
  # `overrideScope` and `packages`.
  makeScope = newScope: f:
    let
      self = f self // {
        newScope = scope: newScope (self // scope);
        callPackage = self.newScope {};
        overrideScope = g: makeScope newScope (lib.extends g f);
        overrideScope' = self.overrideScope;
        packages = f;
      };
    in self;
}

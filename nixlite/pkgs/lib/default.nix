# nixlite's own `lib`: what package recipes use from nixpkgs' lib, written for nixlite.
# Each part is a file taking { lib }; their functions are also at the top level, as in
# nixpkgs (`lib.optional`, `lib.mkOption`, …). README.md beside the package set lists them.
let
  callLib = file: import file { inherit lib; };

  parts = {
    trivial = callLib ./trivial.nix;
    attrsets = callLib ./attrsets.nix;
    lists = callLib ./lists.nix;
    strings = callLib ./strings.nix;
    fixedPoints = callLib ./fixed-points.nix;
    customisation = callLib ./customisation.nix;
    versions = callLib ./versions.nix;
    asserts = callLib ./asserts.nix;
    systems = callLib ./systems.nix;
    fetchers = callLib ./fetchers.nix;
    meta = callLib ./meta.nix;
    sources = callLib ./sources.nix;
    generators = callLib ./generators.nix;
    options = callLib ./options.nix;
    modules = callLib ./modules.nix;
    typesLib = callLib ./types.nix;
  };

  # Later parts win a name clash: trivial's isFunction/functionArgs (which know functors)
  # over builtins'.
  flat = builtins.foldl' (acc: part: acc // part) {} (with parts; [
    attrsets lists strings fixedPoints customisation asserts meta sources options modules
    (removeAttrs typesLib [ "types" ]) trivial
  ]);

  lib = flat // {
    inherit (parts) trivial attrsets lists strings fixedPoints customisation versions asserts
      systems fetchers meta sources generators options modules;
    inherit (parts.typesLib) types;
    platforms = parts.systems.doubles;
    licenses = import ./licenses.nix;
    maintainers = {};
    teams = {};
    inherit (builtins) add sub mul div lessThan addErrorContext genericClosure isFloat isBool
      isPath pathExists readFile readDir getEnv tryEval typeOf trace;
    inherit (parts.versions) splitVersion;
    inherit (parts.trivial) functionArgs isFunction;
    extend = f: (parts.fixedPoints.makeExtensible (self: lib)).extend f;
  };
in
lib

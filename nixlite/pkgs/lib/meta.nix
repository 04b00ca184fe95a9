# Names, priorities and meta attributes of derivations.
{ lib }:

rec {
  addMetaAttrs = newAttrs: drv: drv // { meta = (drv.meta or {}) // newAttrs; };
  dontDistribute = drv: addMetaAttrs { hydraPlatforms = []; } drv;
  setName = name: drv: drv // { inherit name; };
  updateName = updater: drv: drv // { name = updater (drv.name); };
  appendToName = suffix: updateName (name:
    let x = builtins.parseDrvName name; in "${x.name}-${suffix}-${x.version}");
  setPrio = priority: addMetaAttrs { inherit priority; };
  lowPrio = setPrio 10;
  hiPrio = setPrio (-10);
  lowPrioSet = set: builtins.mapAttrs (_: lowPrio) set;
  hiPrioSet = set: builtins.mapAttrs (_: hiPrio) set;

  platformMatch = platform: elem:
    if builtins.isString elem then platform ? system && elem == platform.system
    else lib.matchAttrs elem platform;
  availableOn = platform: pkg:
    (!pkg ? meta.platforms || lib.any (platformMatch platform) pkg.meta.platforms)
    && lib.all (elem: !platformMatch platform elem) (pkg.meta.badPlatforms or []);

  # The main program of a package: `meta.mainProgram`, else (with a warning) its name.
  getExe = x: getExe' x (x.meta.mainProgram or (
    lib.warnIf (lib.isDerivation x)
      "getExe: Package ${lib.strings.escapeNixIdentifier x.meta.name or x.pname or x.name} does not have the meta.mainProgram attribute. We'll assume that the main program has the same name for now, but this behavior is deprecated, because it leads to surprising errors when the assumption does not hold. If the package has a main program, please set `meta.mainProgram` in its definition to make this warning go away. Otherwise, if the package does not have a main program, or if you don't control its definition, use getExe' to specify the name to the program, such as lib.getExe' foo \"bar\"."
      lib.getName x));
  getExe' = x: y:
    assert lib.assertMsg (lib.isDerivation x)
      "lib.meta.getExe': The first argument is of type ${builtins.typeOf x}, but it should be a derivation instead.";
    assert lib.assertMsg (builtins.isString y)
      "lib.meta.getExe': The second argument is of type ${builtins.typeOf y}, but it should be a string instead.";
    assert lib.assertMsg (builtins.match ".*/.*" y == null)
      "lib.meta.getExe': The second argument \"${y}\" is a nested path with a \"/\" character, but it should just be the name of the executable instead.";
    "${lib.getBin x}/bin/${y}";
}

# nixlite's stdenv: mkDerivation with the usual phases (unpack, patch, configure, make,
# make install, fixup), run by the host bash package, with the host's tools on PATH.
{ lib, system, bash, hostPath ? "/usr/bin:/bin", cc ? null }:

let
  shell = "${bash}/bin/bash";
  platform = lib.systems.elaborate system;

  # The derivation behind `$stdenv`: its `setup` file is what builders source.
  setupDrv = derivation {
    name = "stdenv-linux";
    inherit system;
    builder = shell;
    args = [ "-e" ./make-setup.sh ];
    setup = ./setup.sh;
    inherit shell hostPath;
    preferLocalBuild = true;
    allowSubstitutes = false;
  };

  # Attributes mkDerivation reads itself and does not pass to the builder.
  nonDerivationAttrs = [ "meta" "passthru" "pos" "finalPackage" "overrideAttrs" ];

  # Turn mkDerivation's attributes into `derivation`'s.
  derivationAttrs = attrs:
    let
      name = attrs.name or "${attrs.pname}-${attrs.version}";
      outputs = attrs.outputs or [ "out" ];
      inputs = names: lib.concatMap (n: map toString (lib.filter (x: x != null) (attrs.${n} or []))) names;
    in
    removeAttrs attrs nonDerivationAttrs // {
      inherit name system outputs;
      builder = attrs.realBuilder or shell;
      args = attrs.args or [ "-e" (attrs.builder or ./default-builder.sh) ];
      stdenv = setupDrv;
      __ignoreNulls = true;
    } // lib.genAttrs [ "nativeBuildInputs" "buildInputs" "propagatedBuildInputs" "propagatedNativeBuildInputs" ]
      (n: inputs [ n ]);

  # `mkDerivation attrs` or `mkDerivation (finalAttrs: attrs)`; `.overrideAttrs` takes
  # `prev: attrs` or `final: prev: attrs` and re-runs the fixed point.
  makeDerivationExtensible = rattrs:
    let
      args = rattrs (args // { inherit finalPackage overrideAttrs; });
      overrideAttrs = f: makeDerivationExtensible (lib.extends (lib.toExtension f) rattrs);
      meta = args.meta or {};
      passthru = args.passthru or {};
      drv = derivation (derivationAttrs args);
      finalPackage = lib.extendDerivation true
        (passthru // { inherit meta overrideAttrs passthru; } // lib.optionalAttrs (args ? pname) {
          inherit (args) pname;
        } // lib.optionalAttrs (args ? version) { inherit (args) version; })
        drv;
    in finalPackage;

  mkDerivation = fpargs:
    makeDerivationExtensible (if lib.isFunction fpargs then fpargs else _: fpargs);
in
setupDrv // {
  inherit mkDerivation shell system cc;
  inherit (setupDrv) name;
  setup = "${setupDrv}/setup";
  hostPlatform = platform;
  buildPlatform = platform;
  targetPlatform = platform;
  inherit (platform) isLinux isDarwin is64bit isx86_64 isAarch64;
  isCross = false;
  shellDryRun = "${shell} -n -O extglob";
  inherit lib;
}

# The packages, as a function of the final set (overlays see and change it).
{ lib, system, config }:

final:
let
  host = import ./host { inherit lib system; };
  hostCompiler = if builtins.pathExists /usr/bin/cc then "/usr/bin/cc" else null;
  trivial = import ./build-support/trivial-builders.nix {
    inherit lib hostCompiler;
    inherit (final) stdenv stdenvNoCC runtimeShell jq;
  };
  fetchers = import ./build-support/fetchers.nix {
    inherit lib;
    inherit (final) stdenvNoCC curl cacert;
  };
in
host // trivial // fetchers // {
  # Marks this set: selecting a name it lacks gives nixlite's own error (see README.md).
  __nixlitePackageSet = true;

  inherit lib system config;
  pkgs = final;
  buildPackages = final;
  pkgsBuildBuild = final;
  pkgsBuildHost = final;
  pkgsHostTarget = final;
  targetPackages = final;
  callPackage = lib.callPackageWith final;
  callPackages = lib.callPackagesWith final;
  newScope = extra: lib.callPackageWith (final // extra);

  stdenv = import ./stdenv { inherit lib system; inherit (final) bash; cc = hostCompiler; };
  stdenvNoCC = final.stdenv;
  runtimeShell = "${final.bash}/bin/bash";
  runtimeShellPackage = final.bash;

  makeWrapper = final.runCommand "make-wrapper-hook" {} ''
    mkdir -p $out/nix-support
    sed 's|@shell@|${final.runtimeShell}|g' ${./build-support/make-wrapper.sh} > $out/nix-support/setup-hook
  '';
  makeBinaryWrapper = final.makeWrapper;

  dockerTools = import ./dockertools { pkgs = final; inherit lib; };
}

# nixlite's own package set: what `import <nixpkgs> {}` gives when the search path has no
# `nixpkgs` entry. Written for nixlite (README.md lists what is here); a recipe that
# needs more points `-I nixpkgs=DIR` at a nixpkgs checkout instead.
{ system ? builtins.currentSystem
, overlays ? []
, config ? {}
, localSystem ? { inherit system; }
, crossSystem ? null
, crossOverlays ? []
}:

let
  lib = import ./lib;
  hostSystem = if builtins.isString localSystem then localSystem else localSystem.system or system;
  config' = if lib.isFunction config then config { inherit lib; } else config;
  packages = import ./top-level.nix { inherit lib; system = hostSystem; config = config'; };
in
assert lib.assertMsg (crossSystem == null) "nixlite's package set does not cross-compile (crossSystem)";
lib.fix (lib.extends (lib.composeManyExtensions overlays) packages)

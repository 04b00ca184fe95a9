# A stand-in for nixlite's package set in the dockerTools recipe tests, until the package set
# (branch `pkgs`) is merged: just what dockerTools takes from `pkgs`.  Recipes reach it as
# `import <nixpkgs> {}` through `-I nixpkgs=` this directory.
{ ... }:
let
  pkgs = {
    system = "x86_64-linux";
    runtimeShell = "/bin/sh";
    dockerTools = import ../../../nixlite/pkgs/dockertools { inherit pkgs; lib = {}; };
  };
in pkgs

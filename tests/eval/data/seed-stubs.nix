# Stub arguments for the dockerTools seed: just enough structure for the
# top-level set of dockerTools functions to evaluate (nothing is built).
seed:
let
  stub = name: { inherit name; outPath = "/nix/store/00000000000000000000000000000000-${name}"; };
  lib = {
    concatStringsSep = builtins.concatStringsSep;
    optionalString = c: s: if c then s else "";
    makeOverridable = f: f;
    escapeShellArg = s: "'${s}'";
    escapeShellArgs = xs: builtins.concatStringsSep " " (map (s: "'${s}'") xs);
    optionals = c: xs: if c then xs else [ ];
    flip = f: a: b: f b a;
    warn = msg: v: v;
    isDerivation = v: builtins.isAttrs v && v ? type && v.type == "derivation";
    forEach = xs: f: map f xs;
    toList = x: if builtins.isList x then x else [ x ];
  };
in
import seed {
  inherit lib;
  bashInteractive = stub "bash-interactive";
  buildPackages = { nix = stub "nix"; };
  cacert = stub "cacert";
  callPackage = fn: args: { callPackageOf = fn; };
  closureInfo = args: stub "closure-info";
  coreutils = stub "coreutils";
  docker = stub "docker";
  e2fsprogs = stub "e2fsprogs";
  fakeroot = stub "fakeroot";
  findutils = stub "findutils";
  go = { GOARCH = "amd64"; };
  jq = stub "jq";
  jshon = stub "jshon";
  makeWrapper = stub "make-wrapper";
  moreutils = stub "moreutils";
  nix = stub "nix";
  pigz = stub "pigz";
  rsync = stub "rsync";
  runCommand = name: env: script: stub name;
  runtimeShell = "/bin/sh";
  shadow = stub "shadow";
  skopeo = stub "skopeo";
  substituteAll = args: stub "substituted";
  symlinkJoin = args: stub args.name;
  util-linux = stub "util-linux";
  vmTools = { };
  writeReferencesToFile = p: stub "references";
  writeScript = name: text: stub name;
  writeText = name: text: stub name;
  writeTextDir = path: text: stub path;
  writePython3 = name: args: text: stub name;
  system = "x86_64-linux";
}

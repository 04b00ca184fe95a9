# The built-in example recipe: what `bash scripts/run.sh` evaluates and instantiates.
# A container recipe in the shape dockerTools users write, on plain derivations
# (the package set behind <nixpkgs> comes with a later issue).
let
  name = "hello";
  tag = "latest";
  system = "x86_64-linux";
  hello = derivation {
    inherit system;
    name = "hello-2.12";
    builder = "/bin/sh";
    args = [ "-c" "echo hello > $out" ];
  };
  config = {
    Cmd = [ "${hello}/bin/hello" ];
    Env = [ "PATH=/bin" ];
    WorkingDir = "/";
  };
in {
  imageName = "${name}:${tag}";
  inherit config;
  image = derivation {
    inherit system;
    name = "docker-image-${name}.tar.gz";
    builder = "/bin/sh";
    args = [ "-c" "echo building" ];
    contents = [ hello ];
    configJSON = builtins.toJSON config;
  };
}

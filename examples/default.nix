# The built-in example recipe: what `bash scripts/run.sh` builds.
# A dockerTools recipe as users write them. Without `-I nixpkgs=DIR`, <nixpkgs> is
# nixlite's own package set, whose busybox and bash are the host's (Debian's static
# builds), so the image runs with nothing from the host.
{ pkgs ? import <nixpkgs> {} }:

let
  greeting = pkgs.writeShellScriptBin "greet" ''
    echo "Hello from a nixlite image, running as $(id -un)"
  '';
  config = {
    Cmd = [ "/bin/greet" ];
    Env = [ "PATH=/bin" ];
    WorkingDir = "/";
    Labels."org.opencontainers.image.title" = "hello";
  };
in {
  inherit config;

  # The classic single-layer image (gzipped docker-archive).
  image = pkgs.dockerTools.buildImage {
    name = "hello";
    tag = "latest";
    copyToRoot = [ pkgs.busybox greeting pkgs.dockerTools.fakeNss ];
    extraCommands = ''
      mkdir -p tmp
      chmod 1777 tmp
    '';
    inherit config;
  };

  # One layer per store path, streamed by an executable: ./result | docker load
  layered = pkgs.dockerTools.streamLayeredImage {
    name = "hello-layered";
    tag = "latest";
    contents = [ pkgs.busybox greeting pkgs.dockerTools.fakeNss ];
    inherit config;
  };
}

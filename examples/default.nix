# The built-in example recipe: what `bash scripts/run.sh` evaluates.
let
  name = "hello";
  tag = "latest";
  config = {
    Cmd = [ "/bin/hello" ];
    Env = [ "PATH=/bin" ];
    WorkingDir = "/";
  };
in {
  imageName = "${name}:${tag}";
  inherit config;
  layers = builtins.length config.Cmd;
}

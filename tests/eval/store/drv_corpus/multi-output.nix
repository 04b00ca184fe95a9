let
  sys = "x86_64-linux";
  lib = derivation { name = "libfoo-1.0"; system = sys; builder = "/bin/sh"; outputs = [ "lib" "dev" "out" "doc" ]; args = [ "-c" "true" ]; };
  app = derivation {
    name = "app"; system = sys; builder = "/bin/sh";
    args = [ "-c" "echo ${lib.dev}/include ${lib}" ];
    buildInputs = [ lib.dev lib.out ];
    docs = lib.doc;
    outputs = [ "out" "man" ];
  };
  tool = derivation { name = "tool"; system = sys; builder = "${app}/bin/sh"; manpage = app.man; };
in { inherit lib app tool; all = [ lib.all ]; nested = { recurseForDerivations = true; x = tool; y = { z = app; }; }; }

let
  sys = "x86_64-linux";
  dep = derivation { name = "dep"; system = sys; builder = "/bin/sh"; outputs = [ "out" "bin" ]; };
  fod = derivation { name = "src"; system = sys; builder = "/bin/sh"; outputHash = "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="; };
in derivation {
  name = "structured"; system = sys; builder = "/bin/sh";
  __structuredAttrs = true;
  __ignoreNulls = true;
  outputs = [ "out" "dev" ];
  int = 42; neg = -7; float = 1.5; third = 0.333333333; big = 1.0e20; tiny = 1.0e-7; two = 2.0;
  bools = [ true false ]; nothing = null;
  nested = { z = 1; a = { y = [ 1 "two" { three = 3; } ]; x = null; }; "B" = "upper"; "_u" = "under"; };
  text = "quote \" backslash \\ newline \n tab \t cr \r ctl \u0001 unicode é ✓";
  path = ./data/build.sh;
  deps = [ dep dep.bin fod ];
  str = { __toString = self: "from-toString"; };
  exportReferencesGraph = { graph = [ dep ]; };
}

let sys = "x86_64-linux";
  dep = derivation { name = "coerce-dep"; system = sys; builder = "/bin/sh"; outputs = [ "lib" "out" ]; };
in derivation {
  name = ".leading-dot+plus=eq?q_u"; system = sys; builder = "/bin/sh";
  int = 123; neg = -5; float = 1.5; big = 1.0e20; small = 0.000001; t = true; f = false; n = null;
  list = [ 1 [ ] [ [ ] 2 ] "s" null true 3.25 [ "a" [ "b" ] ] ];
  emptyList = [ ];
  drvArg = dep; drvList = [ dep dep.out ];
  toStr = { __toString = self: "via ${self.v}"; v = "toString"; };
  outPathSet = { outPath = "/some/where"; };
  escapes = "q\" b\\ n\n r\r t\t ctl\u0007 del\u007f é";
  "weird key" = "k";
  "0digit" = "0"; "B" = "B"; "Z" = "Z"; "_under" = "_"; a = "a";
  __structuredAttrs = false;
  __ignoreNulls = false;
  __contentAddressed = false;
  args = [ dep 1 2.5 true null [ "x" "y" ] ];
  outputs = [ "out" "bin" ];
}

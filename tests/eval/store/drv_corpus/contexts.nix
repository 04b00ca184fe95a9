let
  sys = "x86_64-linux";
  inner = builtins.toFile "inner.txt" "inner";
  script = builtins.toFile "script.sh" "cat ${inner}\n";
  a = derivation { name = "ctx-a"; system = sys; builder = "/bin/sh"; args = [ script ]; outputs = [ "out" "dev" ]; };
  b = derivation { name = "ctx-b"; system = sys; builder = "/bin/sh"; dep = a.dev; };
  deep = derivation { name = "deep"; system = sys; builder = "/bin/sh"; graph = b.drvPath; };
  discarded = derivation { name = "discarded"; system = sys; builder = "/bin/sh";
    drv = builtins.unsafeDiscardOutputDependency b.drvPath; };
  appended = derivation { name = "appended"; system = sys; builder = "/bin/sh";
    s = builtins.appendContext "no paths here" {
      ${builtins.unsafeDiscardStringContext a.drvPath} = { outputs = [ "dev" ]; };
      ${builtins.unsafeDiscardStringContext inner} = { path = true; };
      ${builtins.unsafeDiscardStringContext b.drvPath} = { allOutputs = true; };
    }; };
  placeholders = derivation { name = "placeholders"; system = sys; builder = "/bin/sh";
    outputs = [ "out" "lib" ]; configureFlags = "--prefix=${placeholder "out"} --libdir=${placeholder "lib"}/lib"; };
  stored = derivation { name = "stored"; system = sys; builder = "/bin/sh";
    p = builtins.storePath (builtins.unsafeDiscardStringContext script);
    sub = builtins.substring 0 44 "${a}-and-more"; };
  strs = derivation { name = "strings"; system = sys; builder = "/bin/sh";
    joined = builtins.concatStringsSep ":" [ "${a}/bin" "${b}/bin" ];
    replaced = builtins.replaceStrings [ "bin" ] [ "sbin" ] "${a}/bin";
    json = builtins.toJSON { x = a; y = [ a.dev ]; }; };
in [ a b deep discarded appended placeholders stored strs ]

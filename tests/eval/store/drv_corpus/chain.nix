# a long chain and a wide fan-in, exercising memoised modulo hashing
let
  sys = "x86_64-linux";
  step = prev: i: derivation { name = "step-${toString i}"; system = sys; builder = "/bin/sh"; inherit prev; };
  first = derivation { name = "step-0"; system = sys; builder = "/bin/sh"; };
  last = builtins.foldl' step first (builtins.genList (i: i + 1) 60);
  fan = builtins.genList (i: derivation { name = "leaf-${toString i}"; system = sys; builder = "/bin/sh"; n = i; outputHashAlgo = "sha256";
    outputHash = builtins.hashString "sha256" "same"; }) 5;
in derivation { name = "top"; system = sys; builder = "/bin/sh"; inherit last fan; }

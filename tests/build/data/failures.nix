# Derivations that fail in the ways Nix reports; `tag` makes them fresh for every test run.
{ tag, fixedRefsHash ? "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }:
let
  mk = import ./mk.nix tag;
in rec {
  ok = mk "ok" "echo ok > $out" { };
  noisy = mk "noisy" "for i in $(seq 1 15); do echo line $i; done; echo to-stderr >&2; touch $out; exit 3" { };
  silent = mk "silent" "touch $out; exit 1" { };
  b = mk "b" "cat ${silent} ${ok} > $out" { };
  a = mk "a" "cat ${b} > $out" { };
  d = mk "d" "cat ${b} > $out" { };
  both = [ a d ];
  mismatch = mk "mismatch" "echo hi > $out"
    { outputHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; };
  disallowed = mk "disallowed" "echo ${ok} > $out" { allowedReferences = [ ]; };
  good = mk "good" "echo ${ok} > $out" { };
  requisites = mk "requisites" "echo ${good} > $out" { disallowedRequisites = [ ok ]; };
  cycle = mk "cycle" "echo $dev > $out; echo $out > $dev" { outputs = [ "out" "dev" ]; };
  noOutput = mk "no-output" "true" { };
  fixedRefs = mk "fixed-refs" "echo ${ok} > $out" { outputHashMode = "recursive"; outputHash = fixedRefsHash; };
  random = mk "random" "head -c 16 /dev/urandom | od -x > $out" { };
}

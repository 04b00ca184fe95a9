# A graph of plain derivations built with host tools only (/bin/sh and coreutils), for
# comparing nixlite's builds with nix-build's: out paths, NAR bytes, references.
{ flatHash, treeHash, tag ? "t" }:
let
  mk = import ./mk.nix tag;
in rec {
  leaf = mk "leaf" "echo hello > $out" { };
  chain = mk "chain" "cat ${leaf} > $out; echo ${leaf} >> $out" { };
  # a reference only through a symlink target, one only inside binary contents,
  # a self-reference, odd permissions that must be normalised
  tree = mk "tree" ''
    mkdir -p $out/sub/deeper
    ln -s ${leaf} $out/link-to-leaf
    ln -s sub/deeper $out/relative
    printf '\000\001%s\377tail' ${chain} > $out/sub/binary
    echo $out/sub > $out/self
    printf '#!/bin/sh\necho hi\n' > $out/sub/deeper/run
    chmod 4755 $out/sub/deeper/run
    printf x > $out/sub/deeper/exe
    chmod 750 $out/sub/deeper/exe
    chmod 777 $out/sub
    chmod 600 $out/self
    touch -d @12345 $out/sub/binary
  '' { };
  multi = mk "multi" ''
    mkdir $out $dev $doc
    echo $dev > $out/needs-dev
    echo ${leaf} > $dev/needs-leaf
    echo $dev > $doc/refers-to-dev
  '' { outputs = [ "out" "dev" "doc" ]; };
  usesDev = mk "uses-dev" "cat ${multi.dev}/needs-leaf > $out" { };
  flat = mk "flat" "printf hi > $out" { outputHash = flatHash; outputHashAlgo = "sha256"; };
  recursive = mk "recursive" "mkdir $out; printf 'x\\n' > $out/x; ln -s x $out/y"
    { outputHash = treeHash; outputHashMode = "recursive"; outputHashAlgo = "sha256"; };
  afterFixed = mk "after-fixed" "cat ${flat} ${recursive}/x > $out; echo ${recursive} >> $out" { };
  files = mk "files" ''
    cp $aPath $out.tmp 2>/dev/null || true
    mkdir $out
    cp $aPath $out/a
    cp graph $out/graph
  '' { passAsFile = [ "a" ]; a = "passed ${leaf}"; exportReferencesGraph = [ "graph" chain ]; };
  all = [ leaf chain tree multi multi.dev multi.doc usesDev flat recursive afterFixed files ];
}

let
  sys = "x86_64-linux";
  fod = args: derivation ({ system = sys; builder = "/bin/sh"; args = [ "-c" "echo hi > $out" ]; } // args);
  a = fod { name = "flat-hex"; outputHashAlgo = "sha256"; outputHash = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"; };
  b = fod { name = "flat-b32"; outputHash = "sha256:00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq"; };
  c = fod { name = "rec-sri"; outputHashMode = "recursive"; outputHash = "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="; };
  d = fod { name = "rec-sha512"; outputHashMode = "recursive"; outputHashAlgo = "sha512"; outputHash = "e7c22b994c59d9cf2b48e549b1e24666636045930d3da7c1acb299d1c3b7f931f94aae41edda2c2b207a36e10f8bcb8d45223e54878f5b316e7ce3b6bc019629"; };
  e = fod { name = "md5-b64"; outputHashAlgo = "md5"; outputHash = "sZRqySSS0jR8YjW00mERhA=="; };
  f = fod { name = "sha1-flat"; outputHash = "sha1-9XLTlvrpIGYocU+yzgD3LpTyJY8="; outputHashMode = "flat"; };
  # a fixed output that itself depends on other derivations and a FOD
  g = fod { name = "fod-with-deps"; outputHash = "sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="; deps = [ a c ]; src = ./data/build.sh; };
  user = derivation { name = "uses-fods"; system = sys; builder = "/bin/sh"; inputs = [ a b c d e f g ]; extra = "${g}/x"; };
  user2 = derivation { name = "uses-user"; system = sys; builder = "/bin/sh"; input = user; dev = "${g.drvPath}"; };
in [ a b c d e f g user user2 ]

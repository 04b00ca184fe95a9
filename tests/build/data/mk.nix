# A derivation built by /bin/sh with the host's coreutils on PATH: mk TAG NAME SCRIPT ATTRS.
tag: name: script: attrs: derivation ({
  name = "${tag}-${name}";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "PATH=/bin:/usr/bin; ${script}" ];
} // attrs)

# nixlite's <nix/fetchurl.nix>: a fixed-output derivation run by the built-in
# fetcher (`builtin:fetchurl`).  It takes the arguments Nix's corepkgs file takes
# and makes the same derivation, so the drvPaths that depend on it match Nix's.

let
  # The expected hash is the first of `hash` (SRI: its algorithm is named in the
  # hash, so none is declared), `sha512`, `sha1`, `md5` that is set, else `sha256`.
  expectedHash = hash: sha512: sha1: md5: sha256:
    let
      candidates = builtins.filter (c: c.value != "") [
        { algo = ""; value = hash; }
        { algo = "sha512"; value = sha512; }
        { algo = "sha1"; value = sha1; }
        { algo = "md5"; value = md5; }
      ];
    in
      if candidates == [ ] then { algo = "sha256"; value = sha256; } else builtins.head candidates;

  # Proxy settings the fetcher borrows from the caller's environment; a
  # fixed-output derivation may, since its result is checked by hash.
  proxyVariables = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy" ];
in

{ url
, name ? baseNameOf (toString url)
, hash ? ""
, md5 ? ""
, sha1 ? ""
, sha256 ? ""
, sha512 ? ""
, outputHash ? (expectedHash hash sha512 sha1 md5 sha256).value
, outputHashAlgo ? (expectedHash hash sha512 sha1 md5 sha256).algo
, executable ? false
, unpack ? false
, impure ? false  # today's Nix: no expected hash, an impure derivation
, system ? ""     # accepted and ignored, as in Nix: the fetcher runs anywhere
}:

derivation ((if impure then { __impure = true; } else { inherit outputHash outputHashAlgo; }) // {
  inherit name url executable unpack;
  urls = [ url ];
  builder = "builtin:fetchurl";
  system = "builtin";
  outputHashMode = if unpack || executable then "recursive" else "flat";
  preferLocalBuild = true;  # downloading twice gains nothing
  impureEnvVars = proxyVariables;
})

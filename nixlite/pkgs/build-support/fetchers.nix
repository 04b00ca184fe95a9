# Fixed-output fetchers: the output is checked against the given hash, so they may use
# the network and the host's tools.
{ lib, stdenvNoCC, curl, cacert }:

let
  fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

  # outputHash/outputHashAlgo from hash, sha256, sha512 or sha1 (an empty one: a fake
  # hash, so the build fails and prints the real one).
  hashAttrs = { what, hash ? "", sha256 ? "", sha512 ? "", sha1 ? "", outputHash ? "", outputHashAlgo ? "" }:
    if outputHash != "" then { inherit outputHash; outputHashAlgo = if outputHashAlgo == "" then null else outputHashAlgo; }
    else if hash != "" then { outputHash = hash; outputHashAlgo = null; }
    else if sha512 != "" then { outputHash = sha512; outputHashAlgo = "sha512"; }
    else if sha256 != "" then { outputHash = sha256; outputHashAlgo = "sha256"; }
    else if sha1 != "" then { outputHash = sha1; outputHashAlgo = "sha1"; }
    else lib.warn "found empty hash for ${what}, assuming '${fakeHash}'" {
      outputHash = fakeHash;
      outputHashAlgo = null;
    };
in
rec {
  # Downloads a file with curl (the host package, with the host's CA bundle).
  fetchurl =
    { url ? "", urls ? [], name ? null, hash ? "", sha256 ? "", sha512 ? "", sha1 ? ""
    , outputHash ? "", outputHashAlgo ? "", recursiveHash ? false, executable ? false
    , postFetch ? "", downloadToTemp ? false, curlOpts ? "", curlOptsList ? []
    , passthru ? {}, meta ? {}, preferLocalBuild ? true, nativeBuildInputs ? []
    }:
    let
      urls' = if url != "" then [ url ] ++ urls else urls;
      first = if urls' == [] then throw "fetchurl requires a url or urls" else builtins.head urls';
      baseName = builtins.head (lib.splitString "?" (baseNameOf first));
    in
    stdenvNoCC.mkDerivation ({
      name = if name != null then name else baseName;
      builder = ./fetchurl.sh;
      nativeBuildInputs = [ curl ] ++ nativeBuildInputs;
      urls = urls';
      SSL_CERT_FILE = "${cacert}/etc/ssl/certs/ca-bundle.crt";
      outputHashMode = if recursiveHash || executable then "recursive" else "flat";
      inherit executable postFetch downloadToTemp curlOpts preferLocalBuild passthru meta;
      curlOptsList = lib.escapeShellArgs curlOptsList;
      impureEnvVars = lib.fetchers.proxyImpureEnvVars;
    } // hashAttrs { what = first; inherit hash sha256 sha512 sha1 outputHash outputHashAlgo; });

  # Downloads an archive and unpacks it (its single top directory, with stripRoot).
  fetchzip =
    { url ? "", urls ? [], name ? "source", stripRoot ? true, extension ? null
    , postFetch ? "", nativeBuildInputs ? [], ... }@args:
    let
      first = if url != "" then url else builtins.head urls;
      archiveName = if extension != null then "download.${extension}"
        else builtins.head (lib.splitString "?" (baseNameOf first));
    in
    fetchurl (removeAttrs args [ "stripRoot" "extension" ] // {
      inherit name nativeBuildInputs;
      recursiveHash = true;
      downloadToTemp = true;
      postFetch = ''
        unpackDir="$TMPDIR/unpack"
        mkdir "$unpackDir"
        cd "$unpackDir"
        renamed="$TMPDIR/${archiveName}"
        mv "$downloadedFile" "$renamed"
        case "$renamed" in
          *.zip|*.ZIP|*.jar) unzip -qo "$renamed" ;;
          *) tar xf "$renamed" ;;
        esac
        chmod -R +w "$unpackDir"
      '' + (if stripRoot then ''
        if [ "$(ls -A "$unpackDir" | wc -l)" != 1 ]; then
          echo "error: zip file must contain a single file or directory."
          echo "hint: Pass stripRoot=false; to fetchzip to assume flat list of files."
          exit 1
        fi
        fn=$(cd "$unpackDir" && ls -A)
        if [ -f "$unpackDir/$fn" ]; then
          mkdir $out
        fi
        mv "$unpackDir/$fn" "$out"
      '' else ''
        mv "$unpackDir" "$out"
      '') + postFetch;
    });

  # Clones a git repository at `rev` with the host's git (checked by the output hash).
  fetchgit =
    { url, rev ? "HEAD", name ? "source", hash ? "", sha256 ? "", leaveDotGit ? deepClone
    , deepClone ? false, fetchSubmodules ? false, branchName ? null, postFetch ? ""
    , preferLocalBuild ? true, passthru ? {}, meta ? {}
    }:
    stdenvNoCC.mkDerivation ({
      inherit name url rev leaveDotGit deepClone fetchSubmodules postFetch preferLocalBuild;
      branchName = if branchName == null then "" else branchName;
      builder = ./fetchgit.sh;
      outputHashMode = "recursive";
      impureEnvVars = lib.fetchers.proxyImpureEnvVars ++ [ "GIT_PROXY_COMMAND" "SOCKS_SERVER" ];
      passthru = passthru // { inherit rev; gitRepoUrl = url; };
      inherit meta;
    } // hashAttrs { what = url; inherit hash sha256; });
}

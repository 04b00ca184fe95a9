# dockerTools for nixlite's package set: the functions and arguments of nixpkgs'
# dockerTools (its 2021 form and today's additions), written for nixlite.  Every image step
# is an ordinary derivation whose builder is a native nixlite step ("builtin:nixlite-…",
# nixlite/image/steps): no VM, jq, jshon, pigz, rsync, tarsum or go.  The steps get their
# arguments as one JSON attribute, `nixliteArgs` (store paths in it keep their context, so
# they are the derivation's inputs).
#
# From `pkgs` this uses only host packages, and only where upstream's images contain them:
# `runtimeShell` and `coreutils` (runAsRoot's shell and PATH, shadowSetup), `shadow`
# (shadowSetup), `bashInteractive` (binSh), `cacert` (caCertificates), `runCommand`
# (mergeDrvs), `writeText`/`writeShellScriptBin` (buildNixShellImage), and `system`;
# `lib` only in buildNixShellImage.
{ pkgs, lib }:

let
  system = pkgs.system or builtins.currentSystem;

  goArch = {
    x86_64-linux = "amd64"; aarch64-linux = "arm64"; armv7l-linux = "arm"; armv6l-linux = "arm";
    i686-linux = "386"; powerpc64le-linux = "ppc64le"; s390x-linux = "s390x";
    riscv64-linux = "riscv64";
  };
  # The OCI image spec asks for Go's GOARCH names, as upstream (go.GOARCH) does.
  defaultArch = goArch.${system} or (throw "dockerTools: no GOARCH name known for system '${system}'");

  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = builtins.replaceStrings upper lower;
  toList = x: if x == null then [] else if builtins.isList x then x else [ x ];
  hashOf = drv: builtins.substring 0 32 (baseNameOf drv.outPath);

  # A derivation built by the native step `nixlite-${step}`.
  nativeStep = step: name: args: extra: derivation ({
    inherit name;
    system = "builtin";
    builder = "builtin:nixlite-${step}";
    nixliteArgs = builtins.toJSON args;
  } // extra);

  # A directory of small files and links (what upstream writes with writeTextDir, ln -s …).
  tree = name: { files ? {}, symlinks ? {}, dirs ? [] }:
    nativeStep "tree" name { inherit files symlinks dirs; } {};

  runAsRootShell = pkgs.runtimeShell or "/bin/sh";
  runAsRootPath = if pkgs ? coreutils then "${pkgs.coreutils}/bin:/bin" else "/bin";

  imageName = name: toLower name;

  # fakeNss, with more users and groups
  fakeNssWith = { extraPasswdLines ? [], extraGroupLines ? [] }: tree "fake-nss" {
    files = {
      "etc/passwd" = ''
        root:x:0:0:root user:/var/empty:/bin/sh
        nobody:x:65534:65534:nobody:/var/empty:/bin/sh
      '' + lines extraPasswdLines;
      "etc/group" = ''
        root:x:0:
        nobody:x:65534:
      '' + lines extraGroupLines;
      "etc/nsswitch.conf" = ''
        hosts: files dns
      '';
    };
    dirs = [ "var/empty" ];
  };
  lines = list: builtins.concatStringsSep "" (map (line: line + "\n") list);
in
rec {
  # ---------------------------------------------------------------------------------------
  # buildImage: one layer in the legacy + manifest layout, gzipped (upstream's bytes).
  buildImage = args@{
    name,
    tag ? null,                    # null: the output's hash
    fromImage ? null,
    fromImageName ? null,
    fromImageTag ? null,
    contents ? null,               # the 2021 name ...
    copyToRoot ? null,             # ... and today's
    keepContentsDirlinks ? false,
    config ? null,
    architecture ? defaultArch,
    extraCommands ? "",
    uid ? 0,
    gid ? 0,
    runAsRoot ? null,
    diskSize ? 1024,               # with runAsRoot: MiB the base layers and the new one may take
    buildVMMemorySize ? 512,       # accepted and ignored: no VM, the builder's own memory
    created ? "1970-01-01T00:00:01Z",
    includeNixDB ? false,
    nixDb ? includeNixDB,
  }:
    let
      baseName = baseNameOf name;
      contentsList = toList (if copyToRoot != null then copyToRoot else contents);
      baseJson = builtins.toJSON { inherit created config architecture; os = "linux"; };
      layer = nativeStep "docker-layer" "docker-layer-${baseName}" ({
        inherit name baseJson keepContentsDirlinks extraCommands uid gid runAsRoot fromImage
          fromImageName fromImageTag nixDb;
        contents = contentsList;
        # only runAsRoot runs a program inside the image
        shell = if runAsRoot != null then runAsRootShell else null;
        path = if runAsRoot != null then runAsRootPath else null;
      } // (if runAsRoot != null then { inherit diskSize; } else {})) {};
      result = nativeStep "docker-image" "docker-image-${baseName}.tar.gz" {
        name = imageName name;
        inherit tag fromImage fromImageName fromImageTag layer;
      } {};
    in
    result // {
      imageName = imageName name;
      imageTag = if tag != null then toLower tag else hashOf result;
      inherit layer;
      buildArgs = args;
    };

  # ---------------------------------------------------------------------------------------
  # streamLayeredImage: an executable writing the image to stdout (`$(nixlite build …) |
  # docker load`), one layer per popular store path, the rest shared, plus a layer of its own.
  streamLayeredImage = {
    name,
    tag ? null,
    fromImage ? null,
    contents ? [],
    config ? {},
    architecture ? defaultArch,
    created ? "1970-01-01T00:00:01Z",
    mtime ? null,                  # null: created's time, as in 2021 (today: 1)
    extraCommands ? "",
    fakeRootCommands ? "",
    enableFakechroot ? false,
    maxLayers ? 100,
    includeStorePaths ? true,
    includeNixDB ? false,
    nixDb ? includeNixDB,
    uid ? 0,
    gid ? 0,
    uname ? "root",
    gname ? "root",
  }:
    assert maxLayers > 1 || throw
      "the maxLayers argument of dockerTools.buildLayeredImage function must be greather than 1 (current value: ${toString maxLayers})";
    let
      baseName = baseNameOf name;
      contentsList = toList contents;
      customisationLayer = nativeStep "customisation-layer" "${baseName}-customisation-layer" {
        contents = contentsList;
        inherit extraCommands fakeRootCommands enableFakechroot nixDb;
      } {};
      conf = nativeStep "stream-conf" "${baseName}-conf.json" {
        name = imageName name;
        inherit tag fromImage maxLayers created mtime customisationLayer includeStorePaths uid gid
          uname gname;
        contents = contentsList;
        baseJson = builtins.toJSON { inherit config architecture; os = "linux"; };
      } {};
      result = nativeStep "stream-script" "stream-${baseName}" { name = baseName; inherit conf; } {};
    in
    result // {
      imageName = imageName name;
      imageTag = if tag != null then tag else hashOf conf;
      isExe = true;
      inherit conf customisationLayer;
    };

  # buildLayeredImage: the same image, compressed (2021: pigz -nT; today's `compressor`).
  buildLayeredImage = args@{ name, compressor ? null, ... }:
    let
      stream = streamLayeredImage (builtins.removeAttrs args [ "compressor" ]);
      suffix = { gz = ".tar.gz"; zstd = ".tar.zst"; none = ".tar"; }.${if compressor == null then "gz" else compressor}
        or (throw "dockerTools.buildLayeredImage: unknown compressor '${compressor}' (gz, zstd or none)");
      result = nativeStep "layered-archive" "${baseNameOf name}${suffix}" {
        inherit (stream) conf;
        inherit compressor;
      } {};
    in
    result // { inherit (stream) imageName imageTag conf; };

  # ---------------------------------------------------------------------------------------
  # streamNixShellImage / buildNixShellImage: an image whose command is `drv`'s build
  # environment, as `nix-shell` gives it (Nix 2.8's nix-shell rc file, the sandbox's
  # variables, /build as home and working directory, a `buildDerivation` command that
  # runs the builder), run as uid:gid with the store and /build theirs.
  streamNixShellImage = {
    drv,
    name ? drv.name + "-env",
    tag ? null,
    uid ? 1000,
    gid ? 1000,
    homeDirectory ? "/build",
    shell ? "${pkgs.bashInteractive}/bin/bash",
    command ? null,
    run ? null,
  }:
    assert !(drv.drvAttrs.__structuredAttrs or false) || throw
      "streamNixShellImage: Does not work with the derivation ${drv.name} because it uses __structuredAttrs";
    assert (command == null || run == null) || throw
      "streamNixShellImage: Can't specify both command and run";
    let
      buildDir = "/build";  # Nix's sandbox-build-dir
      # a derivation attribute as the builder's environment sees it (paths are copied)
      asString = value:
        if builtins.isPath value then "${value}"
        else if builtins.isList value then toString (map asString value)
        else toString value;
      buildDerivation = pkgs.writeShellScriptBin "buildDerivation" ''
        exec ${lib.escapeShellArg (asString drv.drvAttrs.builder)} ${lib.escapeShellArgs (map asString (drv.drvAttrs.args or []))}
      '';
      staticPath = "${dirOf shell}:${buildDerivation}/bin";
      # what nix-shell writes to its rc file, then the command
      rcfile = pkgs.writeText "nix-shell-rc" (''
        unset PATH
        dontAddDisableDepTrack=1
        [ -e $stdenv/setup ] && source $stdenv/setup
        PATH=${staticPath}:"$PATH"
        SHELL=${lib.escapeShellArg shell}
        BASH=${lib.escapeShellArg shell}
        set +e
        [ -n "$PS1" -a -z "$NIX_SHELL_PRESERVE_PROMPT" ] && PS1='\n\[\033[1;32m\][nix-shell:\w]\$\[\033[0m\] '
        if [ "$(type -t runHook)" = function ]; then
          runHook shellHook
        fi
        unset NIX_ENFORCE_PURITY
        shopt -u nullglob
        shopt -s execfail
      '' + lib.optionalString (command != null || run != null) ''
        ${if command != null then command else run}
        exit
      '');
      passAsFile = drv.drvAttrs.passAsFile or [];
      drvEnv = lib.mapAttrs' (attr: value:
        if lib.elem attr passAsFile
        then lib.nameValuePair "${attr}Path" "${pkgs.writeText "pass-as-text-${attr}" (asString value)}"
        else lib.nameValuePair attr (asString value)) drv.drvAttrs
        // lib.genAttrs drv.outputs (output: builtins.unsafeDiscardStringContext drv.${output}.outPath);
      envVars = {
        PATH = staticPath;
        HOME = homeDirectory;
        NIX_STORE = builtins.storeDir;
        NIX_BUILD_CORES = "1";
      } // drvEnv // {
        NIX_BUILD_TOP = buildDir;
        TMPDIR = buildDir;
        TEMPDIR = buildDir;
        TMP = buildDir;
        TEMP = buildDir;
        PWD = buildDir;
        TERM = "xterm-256color";
      };
    in
    streamLayeredImage {
      inherit name tag;
      contents = [
        binSh
        usrBinEnv
        (fakeNss.override {
          extraPasswdLines = [ "nixbld:x:${toString uid}:${toString gid}:Build user:${homeDirectory}:/noshell" ];
          extraGroupLines = [ "nixbld:!:${toString gid}:" ];
        })
      ];
      fakeRootCommands = ''
        mkdir -p ./nix/store ./nix/var/nix ./etc/nix .${buildDir}
        chown -R ${toString uid}:${toString gid} ./nix ./etc/nix .${buildDir}
      '';
      config = {
        User = "${toString uid}:${toString gid}";
        # nix-shell: an interactive shell reads the rc file, `--run` runs it as a script
        Cmd = if run == null then [ shell "--rcfile" rcfile ] else [ shell rcfile ];
        WorkingDir = buildDir;
        Env = lib.mapAttrsToList (var: value: "${var}=${value}") envVars;
      };
    };

  buildNixShellImage = args@{ drv, compressor ? "gz", ... }:
    let
      stream = streamNixShellImage (builtins.removeAttrs args [ "compressor" ]);
      suffix = { gz = ".tar.gz"; zstd = ".tar.zst"; none = ".tar"; }.${compressor}
        or (throw "dockerTools.buildNixShellImage: unknown compressor '${compressor}' (gz, zstd or none)");
      result = nativeStep "layered-archive" "${drv.name}-env${suffix}" {
        inherit (stream) conf;
        inherit compressor;
      } {};
    in
    result // { inherit (stream) imageName imageTag conf; };

  # ---------------------------------------------------------------------------------------
  # pullImage: a fixed-output derivation holding what `skopeo copy … docker-archive:` writes.
  pullImage =
    let fixName = builtins.replaceStrings [ "/" ":" ] [ "-" "-" ];
    in {
      imageName,
      imageDigest,
      sha256 ? null,
      hash ? null,
      os ? "linux",
      arch ? defaultArch,
      variant ? null,
      finalImageName ? imageName,
      finalImageTag ? "latest",
      tlsVerify ? true,
      name ? fixName "docker-image-${finalImageName}-${finalImageTag}.tar",
    }:
    assert (sha256 == null) != (hash == null) || throw
      "dockerTools.pullImage: give exactly one of sha256 and hash";
    nativeStep "pull-image" name {
      inherit imageName imageDigest os arch variant finalImageName finalImageTag tlsVerify;
    } ({
      outputHashMode = "flat";
      impureEnvVars = [ "http_proxy" "https_proxy" "ftp_proxy" "all_proxy" "no_proxy"
                        "HTTP_PROXY" "HTTPS_PROXY" "FTP_PROXY" "ALL_PROXY" "NO_PROXY" ];
    } // (if hash != null then { outputHash = hash; }
          else { outputHash = sha256; outputHashAlgo = "sha256"; }));

  # exportImage: the image's root file system as one plain tar.
  exportImage = { name ? fromImage.name, fromImage, fromImageName ? null, fromImageTag ? null,
                  diskSize ? 1024 }:
    nativeStep "export-image" name { inherit fromImage fromImageName fromImageTag; } {};

  # mergeImages: several image archives as one docker-archive holding all of them.
  mergeImages = images: nativeStep "merge-images" "merge-docker-images" { inherit images; } {};

  # mergeDrvs: the 2021 helper, as upstream writes it (a shell builder).
  mergeDrvs = { derivations, onlyDeps ? false }:
    pkgs.runCommand "merge-drvs" { inherit derivations onlyDeps; } ''
      if [[ -n "$onlyDeps" ]]; then
        echo $derivations > $out
        exit 0
      fi
      mkdir $out
      for derivation in $derivations; do
        echo "Merging $derivation..."
        if [[ -d "$derivation" ]]; then
          cp -drf --preserve=mode -f $derivation/* $out/
        fi
      done
    '';

  buildImageWithNixDb = args: buildImage (args // { nixDb = true; });
  buildLayeredImageWithNixDb = args: buildLayeredImage (args // { nixDb = true; });

  # ---------------------------------------------------------------------------------------
  # Small helpers for images.

  # For runAsRoot: /etc/passwd, shadow, group, gshadow, pam's `other` and login.defs when
  # missing (the 2021 content).
  shadowSetup = ''
    ${if pkgs ? shadow then "export PATH=${pkgs.shadow}/bin:$PATH" else ""}
    mkdir -p /etc/pam.d
    if [[ ! -f /etc/passwd ]]; then
      echo "root:x:0:0::/root:${runAsRootShell}" > /etc/passwd
      echo "root:!x:::::::" > /etc/shadow
    fi
    if [[ ! -f /etc/group ]]; then
      echo "root:x:0:" > /etc/group
      echo "root:x::" > /etc/gshadow
    fi
    if [[ ! -f /etc/pam.d/other ]]; then
      cat > /etc/pam.d/other <<EOF
    account sufficient pam_unix.so
    auth sufficient pam_rootok.so
    password requisite pam_unix.so nullok sha512
    session required pam_unix.so
    EOF
    fi
    if [[ ! -f /etc/login.defs ]]; then
      touch /etc/login.defs
    fi
  '';

  # root and nobody in /etc/passwd and /etc/group, an empty /var/empty, and (today)
  # /etc/nsswitch.conf; `fakeNss.override { extraPasswdLines, extraGroupLines }` adds users.
  fakeNss = fakeNssWith {} // { override = fakeNssWith; };

  # /bin/sh, pointing to bashInteractive.
  binSh = tree "bin-sh" { symlinks."bin/sh" = "${pkgs.bashInteractive}/bin/bash"; };

  # /usr/bin/env, pointing to coreutils'.
  usrBinEnv = tree "usr-bin-env" { symlinks."usr/bin/env" = "${pkgs.coreutils}/bin/env"; };

  # The CA bundle where TLS clients look for it.
  caCertificates = tree "ca-certificates" {
    symlinks = {
      "etc/ssl/certs/ca-bundle.crt" = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
      "etc/ssl/certs/ca-certificates.crt" = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
      "etc/pki/tls/certs/ca-bundle.crt" = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
    };
  };
}

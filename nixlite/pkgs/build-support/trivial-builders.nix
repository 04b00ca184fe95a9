# Derivations from a shell command, a text, or other derivations.
{ lib, stdenv, stdenvNoCC, runtimeShell, jq, hostCompiler }:

let
  inherit (lib) optionalAttrs optionalString escapeShellArg concatMapStrings;

  # writeTextFile's arguments for a script the runtime shell runs, syntax-checked when built.
  shellScriptFile = name: text: {
    inherit name;
    executable = true;
    text = ''
      #!${runtimeShell}
      ${text}
    '';
    checkPhase = ''
      ${stdenv.shellDryRun} "$target"
    '';
  };
in
rec {
  # A derivation built by one shell command, run by stdenv's generic builder.
  runCommandWith = { name, stdenv ? stdenvNoCC, runLocal ? false, derivationArgs ? {} }:
    buildCommand:
    stdenv.mkDerivation ({
      enableParallelBuilding = true;
      inherit buildCommand name;
      passAsFile = [ "buildCommand" ] ++ (derivationArgs.passAsFile or []);
    } // optionalAttrs runLocal {
      preferLocalBuild = true;
      allowSubstitutes = false;
    } // removeAttrs derivationArgs [ "passAsFile" ]);

  runCommand = name: env: runCommandWith { stdenv = stdenvNoCC; runLocal = false; inherit name; derivationArgs = env; };
  runCommandNoCC = runCommand;
  runCommandLocal = name: env: runCommandWith { stdenv = stdenvNoCC; runLocal = true; inherit name; derivationArgs = env; };
  runCommandCC = name: env:
    if hostCompiler == null
    then throw "runCommandCC needs a C compiler on the host, and this host has no /usr/bin/cc (apt-get install gcc)"
    else runCommandWith { inherit stdenv name; runLocal = false; derivationArgs = env; };

  # A file (or, with `destination`, a directory holding it) with the given text.
  writeTextFile =
    { name, text, executable ? false, destination ? "", checkPhase ? "", meta ? {}
    , passthru ? {}, allowSubstitutes ? false, preferLocalBuild ? true, derivationArgs ? {}
    }:
    assert lib.assertMsg (destination != "" -> (lib.hasPrefix "/" destination && destination != "/"))
      "destination must be an absolute path, relative to the derivation's out path, got '${destination}' instead.";
    let
      matches = builtins.match "/bin/([^/]+)" destination;
    in
    runCommand name ({
      inherit text executable checkPhase allowSubstitutes preferLocalBuild;
      passAsFile = [ "text" ] ++ derivationArgs.passAsFile or [];
      meta = lib.optionalAttrs (executable && matches != null) {
        mainProgram = lib.head matches;
      } // meta // derivationArgs.meta or {};
      passthru = passthru // derivationArgs.passthru or {};
    } // removeAttrs derivationArgs [ "passAsFile" "meta" "passthru" ]) ''
      target=$out${escapeShellArg destination}
      mkdir -p "$(dirname "$target")"
      if [ -e "$textPath" ]; then
        mv "$textPath" "$target"
      else
        echo -n "$text" > "$target"
      fi
      if [ -n "$executable" ]; then
        chmod +x "$target"
      fi
      eval "$checkPhase"
    '';

  writeText = name: text: writeTextFile { inherit name text; };
  writeTextDir = path: text: writeTextFile {
    inherit text;
    name = builtins.baseNameOf path;
    destination = "/${path}";
  };
  writeScript = name: text: writeTextFile { inherit name text; executable = true; };
  writeScriptBin = name: text: writeTextFile {
    inherit name text;
    executable = true;
    destination = "/bin/${name}";
  };
  writeShellScript = name: text: writeTextFile (shellScriptFile name text);
  writeShellScriptBin = name: text: writeTextFile (shellScriptFile name text // {
    destination = "/bin/${name}";
    meta.mainProgram = name;
  });

  # A checked shell program with strict options and its runtime inputs on PATH.
  # (nixpkgs also runs shellcheck; nixlite checks the syntax with `bash -n`.)
  writeShellApplication =
    { name, text, runtimeInputs ? [], runtimeEnv ? null, meta ? {}, passthru ? {}
    , checkPhase ? null, excludeShellChecks ? [], extraShellCheckFlags ? []
    , bashOptions ? [ "errexit" "nounset" "pipefail" ], derivationArgs ? {}
    , inheritPath ? true
    }:
    writeTextFile {
      inherit name meta passthru derivationArgs;
      executable = true;
      destination = "/bin/${name}";
      allowSubstitutes = true;
      preferLocalBuild = false;
      text = ''
        #!${runtimeShell}
        ${concatMapStrings (option: "set -o ${option}\n") bashOptions}
      '' + optionalString (runtimeEnv != null) (lib.concatStrings (lib.mapAttrsToList (name: value: ''
        ${lib.toShellVar name value}
        export ${name}
      '') runtimeEnv)) + optionalString (runtimeInputs != []) ''

        export PATH="${lib.makeBinPath runtimeInputs}${optionalString inheritPath ":$PATH"}"
      '' + ''

        ${text}
      '';
      checkPhase =
        if checkPhase == null then ''
          runHook preCheck
          ${stdenv.shellDryRun} "$target"
          runHook postCheck
        '' else checkPhase;
    };

  # One tree of symlinks to the files of several derivations (the first one wins).
  symlinkJoin = args_@{ name ? null, paths, preferLocalBuild ? true, allowSubstitutes ? false, postBuild ? "", ... }:
    let
      args = removeAttrs args_ [ "name" "postBuild" ] // {
        inherit preferLocalBuild allowSubstitutes;
        passAsFile = [ "paths" ];
      };
      name' = if name != null then name else "${args_.pname}-${args_.version}";
    in
    runCommand name' args ''
      mkdir -p $out
      for i in $(cat $pathsPath); do
        cp -rsn --no-preserve=mode "$i/." "$out/"
      done
      ${postBuild}
    '';

  # A profile-like tree: the given paths' files linked under `pathsToLink`, colliding
  # files an error unless `ignoreCollisions`.
  buildEnv =
    { name, paths, ignoreCollisions ? false, checkCollisionContents ? true
    , pathsToLink ? [ "/" ], extraOutputsToInstall ? [], extraPrefix ? ""
    , postBuild ? "", meta ? {}, passthru ? {}, nativeBuildInputs ? [], buildInputs ? []
    , includeClosures ? false, ignoreSingleFileOutputs ? false, manifest ? ""
    }:
    let
      chosenOutputs = lib.concatMap (drv:
        if !(drv ? outputs) then [ drv ]
        else map (output: drv.${output})
          (lib.filter (o: o == "out" || lib.elem o extraOutputsToInstall || o == (drv.outputName or "out"))
            (lib.unique ([ (drv.outputName or "out") ] ++ drv.outputs)))) paths;
    in
    runCommand name {
      inherit meta passthru nativeBuildInputs buildInputs;
      paths = map toString chosenOutputs;
      pathsToLink = pathsToLink;
      ignoreCollisions = ignoreCollisions;
      checkCollisionContents = checkCollisionContents;
      inherit extraPrefix;
      preferLocalBuild = true;
      allowSubstitutes = false;
      passAsFile = [ "paths" ];
    } ''
      root="$out$extraPrefix"
      mkdir -p "$root"
      link_tree() {
        local src="$1" dst="$2" entry target
        for entry in "$src"/* "$src"/.[!.]* "$src"/..?*; do
          [ -e "$entry" ] || [ -L "$entry" ] || continue
          target="$dst/''${entry##*/}"
          if [ -d "$entry" ] && [ ! -L "$target" ] && { [ ! -e "$target" ] || [ -d "$target" ]; }; then
            mkdir -p "$target"
            link_tree "$entry" "$target"
          elif [ -e "$target" ] || [ -L "$target" ]; then
            if [ "$(readlink -f "$target")" = "$(readlink -f "$entry")" ]; then continue; fi
            if [ -n "$checkCollisionContents" ] && [ -f "$target" ] && [ -f "$entry" ] \
               && cmp -s "$target" "$entry"; then continue; fi
            if [ -z "$ignoreCollisions" ]; then
              echo "collision between \`$(readlink -f "$target")' and \`$(readlink -f "$entry")'" >&2
              exit 1
            fi
          else
            ln -s "$entry" "$target"
          fi
        done
      }
      for path in $(cat "$pathsPath"); do
        for sub in $pathsToLink; do
          sub="''${sub%/}"
          [ -d "$path$sub" ] || continue
          mkdir -p "$root$sub"
          link_tree "$path$sub" "$root$sub"
        done
      done
      ${postBuild}
    '';

  # A directory of symlinks: `name = path` pairs (a set, or a list of { name, path }).
  linkFarm = name: entries:
    let
      entries' =
        if builtins.isAttrs entries then lib.mapAttrsToList lib.nameValuePair entries
        else map (x: lib.nameValuePair x.name x.path) entries;
    in
    runCommand name {
      preferLocalBuild = true;
      allowSubstitutes = false;
      passthru.entries = builtins.listToAttrs entries';
    } ''
      mkdir -p $out
      cd $out
      ${concatMapStrings (x: ''
        mkdir -p "$(dirname ${escapeShellArg x.name})"
        ln -s ${escapeShellArg "${x.value}"} ${escapeShellArg x.name}
      '') entries'}
    '';
  linkFarmFromDrvs = name: drvs: linkFarm name (map (drv: { name = drv.name; path = drv; }) drvs);

  # The closure of `rootPaths`: store-paths, registration (nix-store --load-db input),
  # total-nar-size.
  closureInfo = { rootPaths }:
    runCommand "closure-info" {
      __structuredAttrs = true;
      exportReferencesGraph.closure = rootPaths;
      preferLocalBuild = true;
      nativeBuildInputs = [ jq ];
    } ''
      attrs="''${NIX_ATTRS_JSON_FILE:-$NIX_BUILD_TOP/.attrs.json}"
      mkdir $out
      jq -r ".closure | map(.narSize) | add" < "$attrs" > $out/total-nar-size
      jq -r '.closure | map([.path, .narHash, .narSize, "", (.references | length)] + .references) | add | map("\(.)\n") | add' < "$attrs" | head -n -1 > $out/registration
      jq -r '.closure[].path' < "$attrs" > $out/store-paths
    '';

  # A file listing the closure of `paths`, one store path a line, sorted.
  writeClosure = paths:
    runCommand "runtime-deps" {
      __structuredAttrs = true;
      exportReferencesGraph.graph = paths;
      nativeBuildInputs = [ jq ];
    } ''
      jq -r ".graph | map(.path) | sort | .[]" "''${NIX_ATTRS_JSON_FILE:-$NIX_BUILD_TOP/.attrs.json}" > "$out"
    '';
  writeReferencesToFile = path: writeClosure [ path ];

  # The closure of `path`, most popular paths first (the order dockerTools' layered
  # images put paths into layers), one a line.
  referencesByPopularity = path:
    runCommand "closure-paths" {
      __structuredAttrs = true;
      exportReferencesGraph.graph = lib.toList path;
      preferLocalBuild = true;
      nativeBuildInputs = [ jq ];
    } ''
      jq -r -f ${./references-by-popularity.jq} "''${NIX_ATTRS_JSON_FILE:-$NIX_BUILD_TOP/.attrs.json}" > $out
    '';

  # A file with `path`'s direct references, one a line.
  writeDirectReferencesToFile = path:
    runCommand "runtime-references" {
      exportReferencesGraph = [ "graph" path ];
      inherit path;
    } ''
      touch ./references
      while read p; do
        read dummy
        read nrRefs
        if [ "$p" = "$path" ]; then
          for ((i = 0; i < nrRefs; i++)); do
            read ref
            echo "$ref"
          done >> ./references
        else
          for ((i = 0; i < nrRefs; i++)); do read ref; done
        fi
      done < graph
      sort ./references > $out
    '';

  # Replaces @name@ in a file by the attribute `name` (nixpkgs' substituteAll).
  substituteAll = args@{ src, ... }:
    stdenvNoCC.mkDerivation ({
      name = if args ? name then args.name else baseNameOf (toString src);
      builder = ./substitute-all.sh;
      substituteScript = ./substitute.sh;
      inherit src;
      preferLocalBuild = true;
      allowSubstitutes = false;
    } // removeAttrs args [ "name" "src" ]);

  # Replaces @name@ by the given values and fails on any @name@ left over.
  replaceVars = src: replacements:
    let
      subst = lib.concatStringsSep " " (lib.mapAttrsToList (name: value:
        if value == null then "--subst-var-by-null ${escapeShellArg name}"
        else "--subst-var-by ${escapeShellArg name} ${escapeShellArg (toString value)}") replacements);
    in
    stdenvNoCC.mkDerivation {
      name = baseNameOf (toString src);
      inherit src;
      doCheck = true;
      dontUnpack = true;
      preferLocalBuild = true;
      allowSubstitutes = false;
      buildPhase = ''
        runHook preBuild
        source ${./substitute.sh}
        substitute "$src" "$out" ${subst}
        runHook postBuild
      '';
      checkPhase = ''
        runHook preCheck
        if grep -Eq '@[a-zA-Z_][0-9A-Za-z_'"'"'-]*@' "$out"; then
          echo "replaceVars: some @variables@ in $src were not replaced:" >&2
          grep -Eo '@[a-zA-Z_][0-9A-Za-z_'"'"'-]*@' "$out" | sort -u >&2
          exit 1
        fi
        runHook postCheck
      '';
      dontInstall = true;
      dontFixup = true;
    };
}

# nixlite's stdenv: the generic builder's shell functions. `source $stdenv/setup` then
# `genericBuild` runs the phases (or `buildCommand`). The first lines of $stdenv/setup,
# written by the stdenv derivation, set $SHELL and $hostPath.
__nixlite_setup_options=$-  # restored at the end: nix-shell sources this interactively
set -eu
set -o pipefail
shopt -s nullglob

# Structured attributes: the derivation's attributes and outputs come from .attrs.sh.
if [ -n "${NIX_ATTRS_SH_FILE:-}" ] || [ -e "${NIX_BUILD_TOP:-.}/.attrs.sh" ]; then
    source "${NIX_ATTRS_SH_FILE:-$NIX_BUILD_TOP/.attrs.sh}"
    for outputName in "${!outputs[@]}"; do
        export "$outputName=${outputs[$outputName]}"
    done
    outputs="${!outputs[*]}"
fi
: "${outputs:=out}"
export NIX_BUILD_CORES="${NIX_BUILD_CORES:-1}"
[ "$NIX_BUILD_CORES" != 0 ] || NIX_BUILD_CORES="$(nproc 2>/dev/null || echo 1)"

# PATH: each input's bin/, then the host's tools (nixlite's stdenv uses the host's
# compilers and utilities: impure, like a Nix with the sandbox off).
addToSearchPath() {
    local var="$1" dir="$2"
    [ -d "$dir" ] || return 0
    export "$var=${!var:+${!var}:}$dir"
}
PATH=""
for input in ${nativeBuildInputs[*]:-} ${buildInputs[*]:-} ${propagatedNativeBuildInputs[*]:-} ${propagatedBuildInputs[*]:-}; do
    addToSearchPath PATH "$input/bin"
done
export PATH="${PATH:+$PATH:}$hostPath"
# An input's nix-support/setup-hook adds shell functions (makeWrapper's, for one).
for input in ${nativeBuildInputs[*]:-} ${buildInputs[*]:-} ${propagatedNativeBuildInputs[*]:-} ${propagatedBuildInputs[*]:-}; do
    if [ -f "$input/nix-support/setup-hook" ]; then
        source "$input/nix-support/setup-hook"
    fi
done

runHook() {
    local hookName="$1"
    shift
    if [ -n "${!hookName:-}" ]; then
        eval "${!hookName}"
    fi
    if declare -F "$hookName" >/dev/null; then
        "$hookName" "$@"
    fi
    return 0
}

# ----------------------------------------------------------------------------- phases

unpackFile() {
    local file="$1"
    echo "unpacking source archive $file"
    case "$file" in
        *.zip | *.ZIP) unzip -qo "$file" ;;
        *.tar | *.tar.* | *.tgz | *.tbz | *.tbz2 | *.txz | *.tzst) tar xf "$file" --mode=+w --warning=no-timestamp ;;
        *)
            if [ -d "$file" ]; then
                local dest
                dest="$(basename "$file")"
                dest="${dest#*-}"   # the store path's hash part
                cp -r --preserve=timestamps --no-preserve=mode "$file" "$dest"
            else
                tar xf "$file" --mode=+w --warning=no-timestamp
            fi
            ;;
    esac
}

unpackPhase() {
    runHook preUnpack
    local srcsList="${srcs:-${src:-}}"
    if [ -z "$srcsList" ]; then
        echo "variable \$src or \$srcs should point to the source"
        exit 1
    fi
    local before after
    before="$(ls -A)"
    for file in $srcsList; do
        unpackFile "$file"
    done
    if [ -z "${sourceRoot:-}" ]; then
        after="$(comm -13 <(printf '%s\n' "$before") <(ls -A))"
        local dirs=()
        for entry in $after; do
            [ -d "$entry" ] && dirs+=("$entry")
        done
        if [ "${#dirs[@]}" -ne 1 ]; then
            echo "unpacker produced ${#dirs[@]} directories; set sourceRoot"
            exit 1
        fi
        sourceRoot="${dirs[0]}"
    fi
    echo "source root is $sourceRoot"
    chmod -R u+w -- "$sourceRoot"
    cd "$sourceRoot"
    runHook postUnpack
}

patchPhase() {
    runHook prePatch
    for patch in ${patches:-}; do
        echo "applying patch $patch"
        case "$patch" in
            *.gz) gzip -dc "$patch" ;;
            *.bz2) bzip2 -dc "$patch" ;;
            *.xz) xz -dc "$patch" ;;
            *) cat "$patch" ;;
        esac | patch ${patchFlags:--p1}
    done
    runHook postPatch
}

configurePhase() {
    runHook preConfigure
    : "${configureScript:=}"
    if [ -z "$configureScript" ] && [ -x ./configure ]; then
        configureScript=./configure
    fi
    if [ -n "$configureScript" ]; then
        local flags=()
        [ -n "${dontAddPrefix:-}" ] || flags+=("${prefixKey:---prefix=}$prefix")
        # shellcheck disable=SC2206
        flags+=(${configureFlags:-})
        echo "configure flags: ${flags[*]}"
        $configureScript "${flags[@]}"
    else
        echo "no configure script, doing nothing"
    fi
    runHook postConfigure
}

hasMakefile() {
    [ -n "${makefile:-}" ] || [ -e Makefile ] || [ -e makefile ] || [ -e GNUmakefile ]
}

makeFlagsFor() {
    local flags=()
    [ -z "${makefile:-}" ] || flags+=(-f "$makefile")
    [ -z "${enableParallelBuilding:-}" ] || flags+=("-j$NIX_BUILD_CORES")
    # shellcheck disable=SC2206
    flags+=(SHELL="$SHELL" ${makeFlags:-} "$@")
    printf '%s\n' "${flags[@]}"
}

buildPhase() {
    runHook preBuild
    if hasMakefile; then
        local flags
        mapfile -t flags < <(makeFlagsFor ${buildFlags:-})
        echo "build flags: ${flags[*]}"
        make "${flags[@]}"
    else
        echo "no Makefile, doing nothing"
    fi
    runHook postBuild
}

checkPhase() {
    runHook preCheck
    if hasMakefile; then
        local target="${checkTarget:-check}" flags
        mapfile -t flags < <(makeFlagsFor ${checkFlags:-} $target)
        make "${flags[@]}"
    fi
    runHook postCheck
}

installPhase() {
    runHook preInstall
    mkdir -p "$prefix"
    if hasMakefile; then
        local flags
        mapfile -t flags < <(makeFlagsFor ${installFlags:-} ${installTargets:-install})
        echo "install flags: ${flags[*]}"
        make "${flags[@]}"
    fi
    runHook postInstall
}

# `#!/bin/sh`, `#!/usr/bin/env python3`, … pointed at the same program in a store input
# on PATH, so scripts run where the host's /bin is not there (containers).
patchShebangs() {
    local file interpreter args program found
    find "$@" -type f -perm -0100 -print0 | while IFS= read -r -d '' file; do
        IFS= read -r first < "$file" || true
        case "$first" in '#!'*) ;; *) continue ;; esac
        read -r interpreter args <<< "${first#\#!}"
        if [ "$(basename "$interpreter")" = env ] && [ -n "$args" ]; then
            read -r program args <<< "$args"
        else
            program="$(basename "$interpreter")"
        fi
        case "$interpreter" in "$NIX_STORE"/*) continue ;; esac
        found=""
        local IFS=:
        for dir in $PATH; do
            case "$dir" in "$NIX_STORE"/*) ;; *) continue ;; esac
            if [ -x "$dir/$program" ]; then found="$dir/$program"; break; fi
        done
        unset IFS
        [ -n "$found" ] || continue
        echo "$file: interpreter directive changed from \"$first\" to \"$found${args:+ $args}\""
        local rest
        rest="$(tail -n +2 "$file"; echo x)"
        printf '#!%s\n%s' "$found${args:+ $args}" "${rest%x}" > "$file.shebang"
        chmod --reference="$file" "$file.shebang"
        mv "$file.shebang" "$file"
    done
}

fixupPhase() {
    runHook preFixup
    for output in $outputs; do
        local dir="${!output}"
        [ -e "$dir" ] || continue
        chmod -R u+w -- "$dir"
        if [ -z "${dontPatchShebangs:-}" ]; then
            for sub in bin sbin libexec; do
                [ ! -d "$dir/$sub" ] || patchShebangs "$dir/$sub"
            done
        fi
    done
    runHook postFixup
}

installCheckPhase() {
    runHook preInstallCheck
    if hasMakefile; then
        local flags
        mapfile -t flags < <(makeFlagsFor ${installCheckFlags:-} ${installCheckTarget:-installcheck})
        make "${flags[@]}"
    fi
    runHook postInstallCheck
}

distPhase() {
    runHook preDist
    if hasMakefile; then
        local flags
        mapfile -t flags < <(makeFlagsFor ${distFlags:-} ${distTarget:-dist})
        make "${flags[@]}"
    fi
    mkdir -p "$out/tarballs"
    cp -pvd ${tarballs:-*.tar.gz} "$out/tarballs"
    runHook postDist
}

# Whether a phase is on: dontX turns the usual ones off, doX turns the optional ones on.
phaseEnabled() {
    case "$1" in
        unpackPhase) [ -z "${dontUnpack:-}" ] ;;
        patchPhase) [ -z "${dontPatch:-}" ] ;;
        configurePhase) [ -z "${dontConfigure:-}" ] ;;
        buildPhase) [ -z "${dontBuild:-}" ] ;;
        checkPhase) [ -n "${doCheck:-}" ] ;;
        installPhase) [ -z "${dontInstall:-}" ] ;;
        fixupPhase) [ -z "${dontFixup:-}" ] ;;
        installCheckPhase) [ -n "${doInstallCheck:-}" ] ;;
        distPhase) [ -n "${doDist:-}" ] ;;
        *) true ;;
    esac
}

runPhase() {
    local phase="$1"
    phaseEnabled "$phase" || return 0
    echo "Running phase: $phase"
    if [ -n "${!phase:-}" ]; then
        eval "${!phase}"
    else
        "$phase"
    fi
    # Phases may cd; the next one starts where the sources are.
    [ -z "${sourceRoot:-}" ] || [ ! -d "$NIX_BUILD_TOP/$sourceRoot" ] || cd "$NIX_BUILD_TOP/$sourceRoot"
}

genericBuild() {
    export prefix="${prefix:-$out}"
    if [ -n "${buildCommandPath:-}" ]; then
        source "$buildCommandPath"
        return
    fi
    if [ -n "${buildCommand:-}" ]; then
        eval "$buildCommand"
        return
    fi
    local phaseList="${phases:-${prePhases:-} unpackPhase patchPhase ${preConfigurePhases:-} configurePhase ${preBuildPhases:-} buildPhase checkPhase ${preInstallPhases:-} installPhase ${preFixupPhases:-} fixupPhase installCheckPhase ${preDistPhases:-} distPhase ${postPhases:-}}"
    for phase in $phaseList; do
        runPhase "$phase"
    done
}

# A shell that sourced this (nix-shell's rc file) keeps its own -e and -u, as with nixpkgs
[[ $__nixlite_setup_options == *e* ]] || set +e
[[ $__nixlite_setup_options == *u* ]] || set +u
unset -v __nixlite_setup_options

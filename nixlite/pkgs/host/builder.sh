# Builds a host package: copies the host's files for one Debian package into $out, then
# bundles the shared libraries of every dynamic ELF program into $out/lib and points the
# programs' interpreter and search path there, so they need nothing outside $out.
# Runs under the host's /bin/sh with the host's tools (host packages are impure).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
set -eu
mkdir -p "$out"

# copy: lines "SOURCE DEST"; a SOURCE "@TARGET" makes DEST a symlink to TARGET.
printf '%s\n' "$copy" | while read -r src dest; do
    [ -n "$src" ] || continue
    mkdir -p "$(dirname "$out/$dest")"
    case "$src" in
        @*) ln -s "${src#@}" "$out/$dest" ;;
        *) if [ -d "$src" ]; then cp -R "$src" "$out/$dest"; else cp -L "$src" "$out/$dest"; fi ;;
    esac
done

# bins: every program the Debian package installs (its dpkg file list), into bin/.
if [ -n "$bins" ]; then
    mkdir -p "$out/bin"
    for list in "/var/lib/dpkg/info/$debianPackage.list" /var/lib/dpkg/info/"$debianPackage":*.list; do
        [ -f "$list" ] || continue
        grep -E '^(/usr)?/s?bin/[^/]+$' "$list" | while read -r file; do
            if [ -f "$file" ] && [ -x "$file" ] && [ ! -e "$out/bin/${file##*/}" ]; then
                cp -L "$file" "$out/bin/${file##*/}"
            fi
        done
    done
fi

# applets: bin/NAME -> PROGRAM for every applet PROGRAM --list names (busybox).
if [ -n "$applets" ]; then
    "$out/bin/$applets" --list | while read -r name; do
        [ -e "$out/bin/$name" ] || ln -s "$applets" "$out/bin/$name"
    done
fi

chmod -R u+w "$out"

is_dynamic_elf() {
    [ -f "$1" ] && [ ! -L "$1" ] && patchelf --print-interpreter "$1" >/dev/null 2>&1
}

bundle_libraries() {
    # ldd lines: "libx.so.1 => /lib/…/libx.so.1 (0x…)" and "/lib64/ld-linux….so.2 (0x…)"
    ldd "$1" | while read -r name arrow path rest; do
        case "$arrow" in
            "=>") [ -n "$path" ] && [ "${path#/}" != "$path" ] || continue ;;
            *) case "$name" in /*) path="$name"; name="${name##*/}" ;; *) continue ;; esac ;;
        esac
        if [ ! -e "$out/lib/$name" ]; then
            cp -L "$path" "$out/lib/$name"
            chmod u+w "$out/lib/$name"
        fi
    done
}

interpreter=""
for dir in bin sbin libexec; do
    [ -d "$out/$dir" ] || continue
    for prog in "$out/$dir"/*; do
        is_dynamic_elf "$prog" || continue
        mkdir -p "$out/lib"
        bundle_libraries "$prog"
        interpreter="$(basename "$(patchelf --print-interpreter "$prog")")"
        patchelf --set-interpreter "$out/lib/$interpreter" --force-rpath --set-rpath "$out/lib" "$prog"
    done
done

# Libraries find their own dependencies next to themselves.
if [ -d "$out/lib" ]; then
    for lib in "$out/lib"/*; do
        case "${lib##*/}" in ld-*|libc.so.*) continue ;; esac
        if [ -n "$(patchelf --print-needed "$lib" 2>/dev/null)" ]; then
            patchelf --set-rpath '$ORIGIN' "$lib"
        fi
    done
fi

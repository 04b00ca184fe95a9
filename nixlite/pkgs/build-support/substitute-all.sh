# Builder of substituteAll: $src with every @name@ replaced by the attribute `name`.
source "$stdenv/setup"
source "$substituteScript"
eval "${preInstall:-}"
target="$out"
if [ -n "${dir:-}" ]; then
    target="$out/$dir/$(basename "$src" | cut -d- -f2-)"
    mkdir -p "$out/$dir"
fi
substituteAll "$src" "$target"
if [ -n "${isExecutable:-}" ]; then chmod +x "$target"; fi
eval "${postInstall:-}"

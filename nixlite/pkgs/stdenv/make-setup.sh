# Writes $out/setup: the stdenv's settings, then the generic builder's functions.
PATH=/usr/bin:/bin
mkdir -p "$out"
{
    printf 'export SHELL=%s\n' "$shell"
    printf 'hostPath=%s\n' "$hostPath"
    printf '%s\n' "$(<"$setup")"
} > "$out/setup"

# With structured attributes, $stdenv itself is in .attrs.sh.
if [ -e "${NIX_ATTRS_SH_FILE:-$NIX_BUILD_TOP/.attrs.sh}" ]; then
    source "${NIX_ATTRS_SH_FILE:-$NIX_BUILD_TOP/.attrs.sh}"
fi
source "$stdenv/setup"
genericBuild

#!/usr/bin/env bash
# Installs everything the tests need (Debian packages, Python packages) and runs the whole suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in nix-bin skopeo umoci docker-registry pigz zstd git jq jshon busybox-static bash-static patchelf; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The reference Nix builds as root without build users or a sandbox (as the tests expect); a
# Debian nix-bin without the nixbld group would otherwise warn on every call and refuse to build.
if ! getent group nixbld >/dev/null && ! grep -qs '^ *build-users-group' /etc/nix/nix.conf; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    printf 'build-users-group =\nsandbox = false\n' | $SUDO tee -a /etc/nix/nix.conf >/dev/null
fi
NIXLITE_EXTRAS=test source scripts/setup-env.sh
python -m pytest -n "${NIXLITE_TEST_JOBS:-2}" "$@"

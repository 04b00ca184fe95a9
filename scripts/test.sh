#!/usr/bin/env bash
# Installs everything the tests need (Debian packages, Python packages) and runs the whole suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in nix-bin skopeo umoci docker-registry pigz zstd git jq jshon; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
NIXLITE_EXTRAS=test source scripts/setup-env.sh
python -m pytest -n "${NIXLITE_TEST_JOBS:-2}" "$@"

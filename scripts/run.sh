#!/usr/bin/env bash
# The main job on the built-in defaults: install nixlite, then build the example recipe's
# container image (a docker-archive at ./result) and show what is in it.
set -euo pipefail
source "$(dirname "$0")/setup-env.sh"
for pkg in bash-static busybox-static; do   # the package set's bash and busybox come from these
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need="${need:-} $pkg"
done
if [ -n "${need:-}" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
nixlite build examples/default.nix -A image
nixlite image inspect result
echo "Load it with 'docker load < result', or push it: nixlite image push result docker://HOST/hello:latest"

#!/usr/bin/env bash
# The main job on the built-in defaults: install nixlite, evaluate the example recipe
# and write its derivations into nixlite's store.
set -euo pipefail
source "$(dirname "$0")/setup-env.sh"
nixlite eval --strict --json examples/default.nix -A config
nixlite instantiate examples/default.nix -A image

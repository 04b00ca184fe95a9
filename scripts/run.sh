#!/usr/bin/env bash
# The main job on the built-in defaults: install nixlite and evaluate the example recipe.
set -euo pipefail
source "$(dirname "$0")/setup-env.sh"
nixlite eval --strict examples/default.nix "$@"

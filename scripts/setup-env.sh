# Sourced by run.sh and test.sh: a virtual environment in .venv with nixlite installed (editable).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
spec="."
[ -n "${NIXLITE_EXTRAS:-}" ] && spec=".[${NIXLITE_EXTRAS}]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"
export PATH="$PWD/.venv/bin:$PATH"

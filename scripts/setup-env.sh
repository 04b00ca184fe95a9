# Sourced by run.sh and test.sh: a virtual environment in .venv with nixlite installed (editable).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
spec="."
[ -n "${NIXLITE_EXTRAS:-}" ] && spec=".[${NIXLITE_EXTRAS}]"
# compat mode puts the checkout on sys.path through a .pth file; the default mode installs an
# import hook whose set-up costs every nixlite command about 20 ms at start-up.
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec" --config-settings editable_mode=compat
# Byte-compile now, so start-up is fast even where PYTHONDONTWRITEBYTECODE is set.
.venv/bin/python -m compileall -q nixlite >/dev/null
export PATH="$PWD/.venv/bin:$PATH"

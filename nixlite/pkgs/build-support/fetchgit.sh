# Builder of fetchgit: a clone at one revision, without .git unless asked to keep it.
source "$stdenv/setup"
if ! command -v git >/dev/null; then
    echo "error: fetchgit needs git on the host (apt-get install git)"
    exit 1
fi
export HOME="$TMPDIR"
git init --quiet "$out"
cd "$out"
git remote add origin "$url"
ref="$rev"
if [ "$rev" = HEAD ] && [ -n "$branchName" ]; then ref="$branchName"; fi
if [ -n "$deepClone" ]; then
    git fetch --quiet --tags origin
    git fetch --quiet origin "$ref"
else
    git fetch --quiet --depth 1 origin "$ref"
fi
git checkout --quiet FETCH_HEAD
if [ -n "$fetchSubmodules" ]; then
    git submodule update --init --recursive --quiet
fi
if [ -z "$leaveDotGit" ]; then
    find "$out" -name .git -prune -exec rm -rf {} +
fi
cd "$TMPDIR"
runHook postFetch

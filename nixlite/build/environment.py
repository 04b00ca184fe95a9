"""The environment and build directory Nix gives a builder (``initEnv``/``initTmpDir``).

Without structured attributes every derivation attribute is an environment
variable, except those named in ``passAsFile``, which are written to
``.attr-<nixbase32 sha256 of the name>`` in the build directory and passed as
``<name>Path``.  With ``__structuredAttrs`` the attributes are written to
``.attrs.json`` and ``.attrs.sh`` instead (named by ``NIX_ATTRS_JSON_FILE`` and
``NIX_ATTRS_SH_FILE``, as today's Nix does; 2.8 only wrote the files).
``exportReferencesGraph`` writes the closure of the named inputs in Nix's
registration format.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from nixlite.errors import NixliteError
from nixlite.store.derivation import Derivation
from nixlite.store.hashes import nixbase32_encode
from nixlite.store.local import LocalStore
from nixlite.store.paths import BadStorePath, to_store_path


class BuildSetupError(NixliteError):
    """The derivation asks for something the builder cannot be given."""


def make_build_dir(drv_path: str) -> str:
    """``$TMPDIR/nix-build-<name>.drv-<n>``, the first free ``n`` (Nix's naming)."""
    root = os.path.realpath(os.environ.get("TMPDIR") or "/tmp")
    prefix = os.path.join(root, "nix-build-" + os.path.basename(drv_path)[33:])
    n = 0
    while True:
        path = f"{prefix}-{n}"
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            n += 1


def builder_env(drv: Derivation, build_dir: str, store: LocalStore, cores: int,
                input_closure: set[str]) -> tuple[dict[str, str], dict | None]:
    """The builder's environment; writes the files it points to into ``build_dir``.

    Returns ``(env, structured attrs or None)``."""
    env: dict[str, str] = {
        "PATH": "/path-not-set",
        "HOME": "/homeless-shelter",
        "NIX_STORE": store.store_dir,
        "NIX_BUILD_CORES": str(cores),
    }
    attrs = None
    if "__json" in drv.env:
        attrs = structured_attrs(drv, store, input_closure)
        json_file = os.path.join(build_dir, ".attrs.json")
        sh_file = os.path.join(build_dir, ".attrs.sh")
        _write(json_file, json.dumps(attrs, separators=(",", ":"), ensure_ascii=False, sort_keys=True))
        _write(sh_file, attrs_sh(attrs))
        env["NIX_ATTRS_JSON_FILE"] = json_file
        env["NIX_ATTRS_SH_FILE"] = sh_file
    else:
        pass_as_file = set(drv.env.get("passAsFile", "").split())
        for key, value in drv.env.items():
            if key in pass_as_file:
                fn = ".attr-" + nixbase32_encode(hashlib.sha256(key.encode()).digest())
                _write(os.path.join(build_dir, fn), value)
                env[key + "Path"] = os.path.join(build_dir, fn)
            else:
                env[key] = value
        graph = drv.env.get("exportReferencesGraph", "").split()
        if len(graph) % 2:
            raise BuildSetupError("odd number of tokens in 'exportReferencesGraph'")
        for name, path in zip(graph[::2], graph[1::2]):
            if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name) or name in (".", ".."):
                raise BuildSetupError(f"invalid file name '{name}' in 'exportReferencesGraph'")
            closure = export_closure(store, [path], input_closure)
            _write(os.path.join(build_dir, name), registration_text(store, closure))
    env["NIX_BUILD_TOP"] = build_dir
    for var in ("TMPDIR", "TEMPDIR", "TMP", "TEMP"):
        env[var] = build_dir
    env["PWD"] = build_dir
    if drv.is_fixed_output():
        env["NIX_OUTPUT_CHECKED"] = "1"
        for var in drv.env.get("impureEnvVars", "").split():
            env[var] = os.environ.get(var, "")
    env["NIX_LOG_FD"] = "2"
    env["TERM"] = "xterm-256color"
    return env, attrs


def _write(path: str, text: str) -> None:
    with open(path, "wb") as f:
        f.write(text.encode("utf-8", "surrogateescape"))


def export_closure(store: LocalStore, paths, input_closure: set[str]) -> list[str]:
    """The closure of ``paths`` (inputs of the build), plus the outputs of any ``.drv``
    in it and their closures, sorted."""
    roots = set()
    for p in paths:
        try:
            sp = to_store_path(p, store.store_dir)
        except BadStorePath as exc:
            raise BuildSetupError(exc.message) from None
        if sp not in input_closure:
            raise BuildSetupError(f"cannot export references of path '{sp}' because it is not in "
                                  "the input closure of the derivation")
        roots.add(sp)
    closure = store.closure(roots)
    for p in list(closure):
        if p.endswith(".drv"):
            for o in store.read_derivation(p).outputs.values():
                if store.is_valid(o.path):
                    closure |= store.closure([o.path])
    return sorted(closure)


def registration_text(store: LocalStore, paths: list[str]) -> str:
    """Nix's ``makeValidityRegistration`` without hashes or derivers."""
    out = []
    for p in paths:
        refs = sorted(store.references(p))
        out.append(f"{p}\n\n{len(refs)}\n")
        out.extend(r + "\n" for r in refs)
    return "".join(out)


def structured_attrs(drv: Derivation, store: LocalStore, input_closure: set[str]) -> dict:
    attrs = json.loads(drv.env["__json"])
    attrs["outputs"] = {name: o.path for name, o in drv.outputs.items()}
    graph = attrs.get("exportReferencesGraph")
    if isinstance(graph, dict):
        for name, paths in graph.items():
            paths = paths if isinstance(paths, list) else [paths]
            attrs[name] = [_path_info_json(store, p)
                           for p in export_closure(store, [str(p) for p in paths], input_closure)]
    return attrs


def _path_info_json(store: LocalStore, path: str) -> dict:
    info = store.query_path_info(path)
    closure_size = sum(store.query_path_info(p).nar_size for p in store.closure([path]))
    out = {"closureSize": closure_size, "narHash": info.nar_hash.to_string("base32"),
           "narSize": info.nar_size, "path": path, "references": sorted(info.references)}
    if info.ca:
        out["ca"] = info.ca
    return out


_SH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _shell_escape(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def _sh_simple(v) -> str | None:
    if isinstance(v, bool):
        return "1" if v else ""
    if isinstance(v, str):
        return _shell_escape(v)
    if isinstance(v, (int, float)):
        return str(int(v)) if float(v).is_integer() else None
    if v is None:
        return "''"
    return None


def attrs_sh(attrs: dict) -> str:
    """``.attrs.sh``: the attributes bash can hold, as ``declare`` lines (Nix's rules)."""
    out = []
    for key in sorted(attrs):
        if not _SH_NAME.fullmatch(key):
            continue
        value = attrs[key]
        simple = _sh_simple(value)
        if simple is not None:
            out.append(f"declare {key}={simple}\n")
        elif isinstance(value, list):
            items = [_sh_simple(v) for v in value]
            if None not in items:
                out.append(f"declare -a {key}=({''.join(i + ' ' for i in items)})\n")
        elif isinstance(value, dict):
            items = {k: _sh_simple(v) for k, v in value.items()}
            if None not in items.values():
                body = "".join(f"[{_shell_escape(k)}]={items[k]} " for k in sorted(items))
                out.append(f"declare -A {key}=({body})\n")
    return "".join(out)

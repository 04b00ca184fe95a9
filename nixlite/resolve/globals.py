"""The names in Nix's base environment: what an unbound variable may still refer to.

Taken from today's Nix (``EvalState::createBaseEnv`` and the registered primops): a
builtin registered as ``__name`` is reachable as the variable ``__name`` and as
``builtins.name``; one registered with a bare name is reachable both as ``name`` and as
``builtins.name``.  Primops that Nix only registers behind an experimental feature
(``fetchClosure``, ``getFlake``, ``outputOf``, …) or an unsafe setting (``exec``,
``importNative``) are left out, as they are absent from a default Nix.

Compared with Nix 2.8 (checked with ``nix-instantiate --parse -E NAME``), today's Nix adds
``break`` and ``__addDrvOutputDependencies``, ``__convertHash``, ``__readFileType``,
``__traceVerbose`` and ``__warn``.

The evaluator provides a value for every name in ``GLOBAL_NAMES``; the resolver binds a
global variable to its index there.
"""

from __future__ import annotations

# Reachable under their bare name (and as builtins.NAME).
BARE_GLOBALS = (
    "abort", "baseNameOf", "break", "builtins", "derivation", "derivationStrict", "dirOf",
    "false", "fetchGit", "fetchMercurial", "fetchTarball", "fetchTree", "fromTOML",
    "import", "isNull", "map", "null", "placeholder", "removeAttrs", "scopedImport",
    "throw", "toString", "true",
)

# Reachable as __NAME (and as builtins.NAME).
PREFIXED_BUILTINS = (
    "add", "addDrvOutputDependencies", "addErrorContext", "all", "any", "appendContext",
    "attrNames", "attrValues", "bitAnd", "bitOr", "bitXor", "catAttrs", "ceil",
    "compareVersions", "concatLists", "concatMap", "concatStringsSep", "convertHash",
    "currentSystem", "currentTime", "deepSeq", "div", "elem", "elemAt", "fetchurl",
    "filter", "filterSource", "findFile", "floor", "foldl'", "fromJSON", "functionArgs",
    "genList", "genericClosure", "getAttr", "getContext", "getEnv", "groupBy", "hasAttr",
    "hasContext", "hashFile", "hashString", "head", "intersectAttrs", "isAttrs", "isBool",
    "isFloat", "isFunction", "isInt", "isList", "isPath", "isString", "langVersion",
    "length", "lessThan", "listToAttrs", "mapAttrs", "match", "mul", "nixPath",
    "nixVersion", "parseDrvName", "partition", "path", "pathExists", "readDir", "readFile",
    "readFileType", "replaceStrings", "seq", "sort", "split", "splitVersion", "storeDir",
    "storePath", "stringLength", "sub", "substring", "tail", "toFile", "toJSON", "toPath",
    "toXML", "trace", "traceVerbose", "tryEval", "typeOf", "unsafeDiscardOutputDependency",
    "unsafeDiscardStringContext", "unsafeGetAttrPos", "warn", "zipAttrsWith",
)

GLOBAL_NAMES: tuple[str, ...] = BARE_GLOBALS + tuple("__" + name for name in PREFIXED_BUILTINS)
GLOBAL_INDEX: dict[str, int] = {name: i for i, name in enumerate(GLOBAL_NAMES)}

# The attribute names of ``builtins`` (sorted, as ``builtins.attrNames builtins`` gives).
BUILTINS_ATTR_NAMES: tuple[str, ...] = tuple(sorted(set(BARE_GLOBALS) | set(PREFIXED_BUILTINS)))

"""The on-disk parse cache: parsed files keyed by a hash of their content.

Like ``.pyc`` files, so evaluating a large file again does not parse it again.  An entry
is the tree in ``nixlite.syntax.treefile``'s format (function bodies are read on first
use), named by SHA-256 of (format version, the parser's sources and tables, file name,
base directory, $HOME, the ``finish`` step and its source, the file's bytes); anything
unreadable or of the wrong shape is ignored and rewritten.  Writes go to a temporary name
first and are renamed into place.  A later stage can have its own pure pass applied before the tree is stored
(``finish``, e.g. ``nixlite.resolve.resolve``: see ``nixlite.resolve.parse_file``), so
syntax never imports the stages to its right.

Location: ``$NIXLITE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/nixlite/parse``, else
``~/.cache/nixlite/parse``.
"""

from __future__ import annotations

import gc
import hashlib
import os
import tempfile
from pathlib import Path

from nixlite.errors import NixliteError
from nixlite.syntax import treefile
from nixlite.syntax.ast import Source

FORMAT = b"nixlite-parse-v3"


def cache_dir() -> Path:
    explicit = os.environ.get("NIXLITE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "nixlite" / "parse"


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_digests: dict[str, bytes] = {}


def code_digest(*paths) -> bytes:
    """SHA-256 of source files (memoised): cached results made by other code are stale,
    as ``.pyc`` files are when their source changes."""
    key = "\0".join(str(p) for p in paths)
    digest = _digests.get(key)
    if digest is None:
        h = hashlib.sha256()
        for p in paths:
            with open(p, "rb") as f:
                h.update(f.read())
        digest = _digests[key] = h.digest()
    return digest


def _parser_sources() -> tuple:
    here = Path(__file__).resolve().parent
    return (here / "lalr_tables.py", here / "ast.py", here / "lexer.py", here / "parser.py")


def _key(name: str, base_dir: str, data: bytes, finish) -> str:
    h = hashlib.sha256(FORMAT)
    h.update(code_digest(*_parser_sources()))
    h.update(name.encode("utf-8", "surrogateescape") + b"\0")
    h.update(base_dir.encode("utf-8", "surrogateescape") + b"\0")
    h.update(os.environ.get("HOME", "").encode("utf-8", "surrogateescape") + b"\0")  # ~/ paths
    if finish is not None:
        h.update(_finish_digest(finish))
    h.update(data)
    return h.hexdigest()


_finish_digests: dict = {}


def _finish_digest(finish) -> bytes:
    """The name and source digest of a ``finish`` step (memoised: asked once per file)."""
    digest = _finish_digests.get(finish)
    if digest is None:
        import inspect

        digest = _finish_digests[finish] = (
            f"{finish.__module__}.{finish.__qualname__}".encode() + b"\0"
            + code_digest(inspect.getsourcefile(finish)))
    return digest


def read_source(path: str) -> str:
    """A Nix file's text (UTF-8; undecodable bytes kept as surrogates)."""
    return _decode(_read_bytes(path))


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise NixliteError(f"opening file '{path}': {exc.strerror}") from None


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    """The bytes ``text`` was read from (``_decode``'s inverse; text from elsewhere may
    hold other lone surrogates, kept as UTF-8 would spell them)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def parse_cached(source: str | bytes, name: str, base_dir: str, finish=None):
    """Parse ``source`` (a file's bytes, or its text; ``name`` and ``base_dir`` as for
    ``nixlite.syntax.parse``) through the cache; ``finish``, if given, is applied to a
    freshly parsed tree before it is stored (it must be pure and deterministic)."""
    if isinstance(source, bytes):
        data, text = source, _decode(source)
    else:
        data, text = _encode(source), source
    key = _key(name, base_dir, data, finish)
    entry = cache_dir() / key[:2] / key
    try:
        with open(entry, "rb") as f:
            return treefile.loads(f.read(), Source(name, text, base_dir))
    except Exception:
        pass  # missing, corrupt or stale: parse again and rewrite
    # The tree is many objects freed by none of these steps: spare the cyclic GC's
    # rescans (they cost more than the steps themselves on large files).
    from nixlite.syntax.parser import parse  # not imported when everything is cached

    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        tree = parse(text, name, base_dir)
        if finish is not None:
            tree = finish(tree)
        try:
            atomic_write(entry, treefile.dumps(tree))
        except (OSError, RecursionError):
            pass
    finally:
        if gc_was_enabled:
            gc.enable()
    return tree


def resolve_expr_path(path: str) -> str:
    """Nix's resolveExprPath: absolute; a symlink is followed (so relative paths in the
    file resolve next to its target); a directory means its ``default.nix``."""
    path = os.path.normpath(os.path.abspath(path))
    for _ in range(1024):
        try:
            if not os.path.islink(path):
                break
            target = os.readlink(path)
        except OSError:
            break
        path = os.path.normpath(os.path.join(os.path.dirname(path), target))
    else:
        raise NixliteError(
            f"too many symbolic links encountered while traversing the path '{path}'")
    try:
        os.stat(path)
    except OSError as exc:
        raise NixliteError(f"getting status of '{path}': {exc.strerror}") from None
    if os.path.isdir(path):
        path = os.path.join(path, "default.nix")
    return path


def parse_file(path: str, finish=None):
    """Parse the file at ``path`` (see ``resolve_expr_path``) through the cache."""
    path = resolve_expr_path(path)
    return parse_cached(_read_bytes(path), path, os.path.dirname(path), finish)


__all__ = ["cache_dir", "atomic_write", "parse_cached", "parse_file", "read_source",
           "resolve_expr_path"]

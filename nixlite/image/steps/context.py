"""What every dockerTools step reads from its derivation, and how it reports failure.

The Nix side (``nixlite/pkgs/dockertools``) passes a step's arguments as one JSON attribute,
``nixliteArgs`` (``builtins.toJSON`` keeps the store paths' context, so the inputs are the
derivation's inputs); with ``__structuredAttrs`` the same object is the attribute itself.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from nixlite.build.native import StepContext, StepFailed
from nixlite.errors import NixliteError
from nixlite.image.compression import limit_from_environment, parse_size
from nixlite.image.gzip import JobCache
from nixlite.image.files import atomic_file
from nixlite.image.progress import BuildPhase
from nixlite.image.steps.storeview import StoreView

ARGS_ATTR = "nixliteArgs"


def step_args(ctx: StepContext) -> dict[str, Any]:
    if ctx.attrs is not None and isinstance(ctx.attrs.get(ARGS_ATTR), dict):
        return dict(ctx.attrs[ARGS_ATTR])
    text = ctx.env.get(ARGS_ATTR)
    if text is None:
        raise StepFailed(f"derivation '{ctx.drv_path}' has no '{ARGS_ATTR}' attribute")
    try:
        value = json.loads(text)
    except ValueError as e:
        raise StepFailed(f"'{ARGS_ATTR}' of '{ctx.drv_path}' is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise StepFailed(f"'{ARGS_ATTR}' of '{ctx.drv_path}' is not a JSON object")
    return value


def decompression_limit() -> int:
    """How far one base image or layer may decompress: ``NIXLITE_MAX_DECOMPRESSED_SIZE`` of
    the nixlite process (not of the derivation), else the library's default."""
    return limit_from_environment()


JOB_CACHE_VARIABLE = "NIXLITE_GZIP_CACHE_SIZE"
DEFAULT_JOB_CACHE = 2 << 30


def job_cache(ctx: StepContext) -> JobCache | None:
    """The store's cache of deflated gzip jobs (``cache/gzip-jobs`` beside the store), at
    most ``NIXLITE_GZIP_CACHE_SIZE`` bytes (2 GiB; 0 turns it off)."""
    text = os.environ.get(JOB_CACHE_VARIABLE)
    limit = parse_size(text, JOB_CACHE_VARIABLE) if text else DEFAULT_JOB_CACHE
    if not limit:
        return None
    return JobCache(os.path.join(ctx.store.root, "cache", "gzip-jobs"), limit)


def view_of(ctx: StepContext) -> StoreView:
    return StoreView.of(ctx.store)


def out_path(ctx: StepContext, name: str = "out") -> str:
    return ctx.outputs[name]


def hash_part(logical: str) -> str:
    """The 32-character hash of a store path (upstream's default image tag)."""
    return os.path.basename(logical).split("-", 1)[0]


def as_list(value: Any) -> list[Any]:
    """``contents`` may be one path or a list, and null means none (as upstream)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


@contextlib.contextmanager
def failures(ctx: StepContext) -> Iterator[None]:
    """Library errors and I/O errors become the step's failure message, naming store paths
    by their logical names (the library names the files it was given)."""
    def logical(text: str) -> str:
        return text.replace(ctx.store.real_dir + "/", ctx.store.store_dir + "/")
    try:
        yield
    except StepFailed as e:
        raise StepFailed(logical(str(e))) from None
    except NixliteError as e:
        raise StepFailed(logical(e.message)) from None
    except OSError as e:
        where = f" '{e.filename}'" if e.filename else ""
        raise StepFailed(logical(f"{e.strerror or e}{where}")) from None


def interruptible(ctx: StepContext, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks``, stopping with the step's failure once the build is cancelled (Ctrl-C)."""
    for chunk in chunks:
        if ctx.cancelled.is_set():
            raise StepFailed("interrupted")
        yield chunk


def reporting(ctx: StepContext, chunks: Iterable[bytes], what: str = "writing output") -> Iterator[bytes]:
    """``chunks``, their bytes reported as the build's phase (``writing output, 12.0 MiB``)."""
    progress = BuildPhase(ctx.activity)
    progress.begin(what, 0)
    for chunk in chunks:
        progress.transferred(len(chunk))
        yield chunk


def write_output(ctx: StepContext, dest: str, chunks: Iterable[bytes]) -> None:
    """Write a file output from chunks: atomically, interruptibly, its progress reported."""
    def write(f) -> None:
        for chunk in interruptible(ctx, reporting(ctx, chunks)):
            f.write(chunk)
    atomic_file(dest, write)


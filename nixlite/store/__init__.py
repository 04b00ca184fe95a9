"""The store stage: hashes, NAR, store paths, derivations, the local store, fetchers.

``hashes``, ``nar``, ``paths`` and ``derivation`` are pure and may be imported
by the evaluator; everything that touches the store goes through
``nixlite.eval.io``, which calls the helpers below.
"""

from __future__ import annotations

import os


def add_path_to_store(path: str, name: str | None = None) -> str:
    """Copy a file-system path into the default store as ``"${./p}"`` does."""
    from nixlite.store.local import default_store

    return default_store().add_path(path, name if name is not None else os.path.basename(path))[0]

"""Registry access (distribution HTTP API v2): references, auth, pull, push.

``RegistryClient`` talks to one registry; ``pull`` and ``push`` (modules of the same names)
move whole images between a registry and the ``Image`` model, verifying every byte.  Most
callers want ``nixlite.image.transports`` instead, which names registries, archives and
layouts alike (``RegistryAccess.client(ref)`` makes a client for a reference).
"""

from __future__ import annotations

from nixlite.image.registry.client import RegistryClient, RegistryError
from nixlite.image.registry.reference import Reference, parse_reference

__all__ = ["Reference", "RegistryClient", "RegistryError", "parse_reference"]

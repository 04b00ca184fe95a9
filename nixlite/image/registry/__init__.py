"""Registry access (distribution HTTP API v2): references, auth, pull, push.

``client_for(ref)`` gives a ``RegistryClient`` for the reference's API host; ``pull`` and
``push`` (modules of the same names) move whole images between a registry and the ``Image``
model, verifying every byte.
"""

from __future__ import annotations

from nixlite.image.registry.client import RegistryClient, RegistryError
from nixlite.image.registry.reference import Reference, parse_reference


def client_for(ref: Reference, *, tls_verify: bool = True, retries: int = 4,
               retry_delay: float = 0.5, credentials=True,
               auth_file: str | None = None) -> RegistryClient:
    """A client for ``ref``'s registry; credentials are looked up under the host as named
    in the reference (``docker.io``, not registry-1.docker.io)."""
    return RegistryClient(ref.api_host, tls_verify=tls_verify, retries=retries,
                          retry_delay=retry_delay, name_for_credentials=ref.host,
                          credentials=credentials, auth_file=auth_file)


__all__ = ["Reference", "RegistryClient", "RegistryError", "client_for", "parse_reference"]

"""Registry access (distribution HTTP API v2): references, auth, pull, push.

``client_for(ref)`` gives a ``RegistryClient`` for the reference's API host; ``pull`` and
``push`` (modules of the same names) move whole images between a registry and the ``Image``
model, verifying every byte.  ``pull_image`` is what dockerTools' ``pullImage`` builder does.
"""

from __future__ import annotations

import os

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


def pull_image(image_name: str, image_digest: str | None, dest: str, *, final_name: str,
               final_tag: str, os_name: str = "linux", arch: str = "amd64",
               variant: str | None = None, tls_verify: bool = True) -> None:
    """Write ``dest`` (atomically) with the bytes of ``skopeo --override-os OS
    --override-arch ARCH copy docker://IMAGE[@DIGEST] docker-archive:DEST:NAME:TAG`` — the
    content a ``pullImage`` recipe's sha256 covers."""
    from nixlite.image.files import atomic_file
    from nixlite.image.registry.pull import Platform, pull
    from nixlite.image.skopeo_archive import write_skopeo_archive

    ref = parse_reference(image_name if not image_digest else
                          f"{image_name.split('@')[0]}@{image_digest}")
    tag = parse_reference(f"{final_name}:{final_tag}")
    directory = os.path.dirname(os.path.abspath(dest))
    pulled = pull(client_for(ref, tls_verify=tls_verify), ref,
                  wanted=Platform(os_name, arch, variant), keep="tar", workdir_parent=directory)
    try:
        atomic_file(dest, lambda out: write_skopeo_archive(
            pulled.image, out, [(tag.name, tag.tag)], spool_dir=directory,
            layer_files=pulled.layer_files))
    finally:
        pulled.cleanup()


__all__ = ["pull_image", "Reference", "RegistryClient", "RegistryError", "client_for", "parse_reference"]

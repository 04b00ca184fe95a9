"""Image references (``[host/]path[:tag][@digest]``) normalised as docker's distribution does.

``nix`` means ``docker.io/library/nix:latest``; the first component is a registry host only if
it contains ``.`` or ``:`` or is ``localhost``.  docker.io's API lives at registry-1.docker.io.
The normalised full name (``docker.io/library/nix``) is what skopeo writes into RepoTags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nixlite.errors import NixliteError

DEFAULT_HOST = "docker.io"
DOCKER_API_HOST = "registry-1.docker.io"
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_HOST = re.compile(r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
                   r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])"
                   r"(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference.  ``host`` is the registry as named (``docker.io`` for Docker Hub),
    ``repository`` the path inside it, ``tag`` and ``digest`` either may be None (but see
    ``ref``: a reference with neither means ``latest``)."""

    host: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full normalised name, e.g. ``docker.io/library/nix``."""
        return f"{self.host}/{self.repository}"

    @property
    def api_host(self) -> str:
        return DOCKER_API_HOST if self.host == DEFAULT_HOST else self.host

    @property
    def ref(self) -> str:
        """What to ask the manifests endpoint for: the digest if given, else the tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str | None) -> Reference:
        return Reference(self.host, self.repository, tag, None)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text


def parse_reference(text: str, *, default_tag: str | None = "latest") -> Reference:
    """Parse ``text`` (an optional ``docker://`` prefix is accepted).  With no tag and no
    digest the tag becomes ``default_tag``."""
    original = text
    if text.startswith("docker://"):
        text = text[len("docker://"):]
    if not text:
        raise NixliteError(f"invalid image reference '{original}': empty")
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise NixliteError(f"invalid image reference '{original}': bad digest '{digest}' "
                           "(expected sha256:<64 lower-case hex digits>)")
    host = DEFAULT_HOST
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.match(first):
            raise NixliteError(f"invalid image reference '{original}': bad registry host '{first}'")
        host, rest = first, remainder
    # A tag is a ':' after the last '/' (a host's port was removed above).
    path, tag = rest, None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        path, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise NixliteError(f"invalid image reference '{original}': bad tag '{tag}'")
    if host in ("index.docker.io", DOCKER_API_HOST):
        host = DEFAULT_HOST
    components = path.split("/")
    for component in components:
        if not _COMPONENT.match(component):
            hint = " (repository names must be lower-case)" if component.lower() != component else ""
            raise NixliteError(f"invalid image reference '{original}': bad path component "
                               f"'{component}'{hint}")
    if host == DEFAULT_HOST and len(components) == 1:
        path = "library/" + path
    if len(host) + 1 + len(path) > 255:
        raise NixliteError(f"invalid image reference '{original}': name longer than 255 characters")
    if tag is None and not digest:
        tag = default_tag
    return Reference(host, path, tag, digest or None)

"""Image transports: reading and writing images by location, as skopeo names them.

A location is one of

* ``docker://[HOST/]NAME[:TAG|@DIGEST]`` — a registry;
* ``docker-archive:PATH[:NAME:TAG]`` — a docker-archive (``docker save`` / skopeo /
  dockerTools tarball, gzip- or zstd-compressed or not);
* ``oci:DIR[:TAG]`` — an OCI image layout;
* ``-`` — a docker-archive on standard input or output;
* a plain path: an existing directory is an OCI layout, anything else a docker-archive
  (for an output, ``default_format`` decides).

Other skopeo transports (``dir:``, ``oci-archive:``, ``docker-daemon:``, …) are refused by
name rather than taken for file names.

``open_image`` reads any source into the ``Image`` model, ``write_image`` writes any file
destination; ``copy_image`` (convert), ``pull_to`` and ``push_from`` combine them with the
fast paths each needs.  docker-archives are written exactly as skopeo 1.9.3 writes them, so
``pull_to`` gives the bytes a ``pullImage`` recipe's sha256 was computed over (``pull_image``
is that builder).  Destinations are checked before any transfer, written under a temporary
name and renamed into place when complete; stale temporaries of killed runs are cleared.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from nixlite.errors import NixliteError
from nixlite.image import docker_archive, model, oci_layout
from nixlite.image.compression import DEFAULT_MAX_DECOMPRESSED
from nixlite.image.files import (atomic_directory, atomic_file, clear_stale_temporaries,
                                 is_temporary)
from nixlite.image.model import Image
from nixlite.image.oci_config import oci_config_bytes
from nixlite.image.progress import Progress
from nixlite.image.registry.auth import Credentials
from nixlite.image.registry.client import DEFAULT_TIMEOUT, RegistryClient
from nixlite.image.registry.pull import Platform, PulledImage, host_platform, pull
from nixlite.image.registry.push import PushResult, push
from nixlite.image.registry.reference import Reference, parse_reference
from nixlite.image.skopeo_archive import write_skopeo_archive

# skopeo's transports nixlite does not implement: refused by name, not taken for file names
UNSUPPORTED_TRANSPORTS = ("dir", "oci-archive", "docker-daemon", "containers-storage",
                          "ostree", "sif", "tarball")


@dataclass(frozen=True, slots=True)
class Location:
    """Where an image is: ``transport`` is 'docker', 'docker-archive', 'oci' or 'stream'.
    ``reference`` for a registry; ``path`` for files; ``name`` (full name, tag) the
    docker-archive's ``NAME:TAG`` suffix; ``tag`` the OCI layout's ``:TAG``; ``explicit``
    whether the transport was spelled out (``docker-archive:F`` names nothing, as in
    skopeo, where a plain ``F`` gets the source's name)."""

    transport: str
    path: str = ""
    reference: Reference | None = None
    name: tuple[str, str] | None = None
    tag: str | None = None
    text: str = ""  # as the user wrote it, for messages
    explicit: bool = False

    def __str__(self) -> str:
        return self.text or self.path


def parse_location(text: str, *, output: bool = False,
                   default_format: str | None = None) -> Location:
    """Parse a SRC or DEST (see the module docstring).  ``default_format``
    ('docker-archive' or 'oci') decides for a plain path; without it an input path is a
    layout if it is a directory, an output path if it ends with ``/``."""
    if text == "-":
        return Location("stream", text=text)
    if text.startswith("docker://"):
        return Location("docker", reference=parse_reference(text), text=text)
    if text.startswith("docker-archive:"):
        path, _, name = text[len("docker-archive:"):].partition(":")
        return Location("docker-archive", _nonempty(path, text), name=name_and_tag(name)
                        if name else None, text=text, explicit=True)
    if text.startswith("oci:"):
        path, _, tag = text[len("oci:"):].partition(":")
        return Location("oci", _nonempty(path, text), tag=tag or None, text=text, explicit=True)
    prefix, colon, _ = text.partition(":")
    if colon and prefix in UNSUPPORTED_TRANSPORTS:
        hint = " (for a directory, use oci:DIR, an OCI image layout)" if prefix == "dir" else ""
        raise NixliteError(f"'{text}': skopeo's {prefix}: transport is not supported; nixlite "
                           f"reads and writes docker://, docker-archive: and oci:{hint}")
    if default_format not in (None, "oci", "docker-archive"):
        raise NixliteError(f"unknown image format '{default_format}'")
    if default_format == "oci" or (default_format is None and (
            os.path.isdir(text) or (output and text.endswith("/")))):
        return Location("oci", text, text=text)
    return Location("docker-archive", text, text=text)


def _nonempty(path: str, text: str) -> str:
    if not path:
        raise NixliteError(f"'{text}' names no file or directory")
    return path


def name_and_tag(text: str) -> tuple[str, str]:
    """``NAME[:TAG]`` → (full normalised name, tag), as skopeo records it in RepoTags."""
    ref = parse_reference(text)
    if ref.digest:
        raise NixliteError(f"'{text}': a name for an archive needs a tag, not a digest")
    return ref.name, ref.tag or "latest"


@dataclass(frozen=True, slots=True)
class RegistryAccess:
    """How to talk to registries: TLS, retries, credentials (explicit ``Credentials``,
    False for none, True to look them up in the auth files, or only ``auth_file``) and the
    stall timeout in seconds."""

    tls_verify: bool = True
    retries: int = 4
    credentials: Credentials | bool = True
    auth_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def client(self, ref: Reference) -> RegistryClient:
        """A client for ``ref``'s registry; credentials are looked up under the host as
        named in the reference (``docker.io``, not registry-1.docker.io)."""
        return RegistryClient(ref.api_host, tls_verify=self.tls_verify, retries=self.retries,
                              timeout=self.timeout, name_for_credentials=ref.host,
                              credentials=self.credentials, auth_file=self.auth_file)


@dataclass(frozen=True, slots=True)
class Options:
    """What every transport operation may need.  ``platform``: the image to pick from a
    multi-platform index (None: this machine's from a registry, the only one in a layout);
    ``max_decompressed``: the most bytes one layer or archive may decompress to."""

    registry: RegistryAccess = field(default_factory=RegistryAccess)
    platform: Platform | None = None
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED
    progress: Progress | None = None


class OpenedImage:
    """An image read from a location; ``close`` (or ``with``) removes what reading it
    staged.  ``source_repo`` is (API host, repository) for a registry source (blobs can be
    mounted from it); ``manifest_oci`` whether its manifest is an OCI one."""

    def __init__(self, image: Image, cleanup: Callable[[], None] | None = None,
                 source_repo: tuple[str, str] | None = None, manifest_oci: bool = False,
                 cancel: Callable[[], None] | None = None) -> None:
        self.image = image
        self._cleanup = cleanup
        self.source_repo = source_repo
        self.manifest_oci = manifest_oci
        self.cancel = cancel or (lambda: None)  # stops transfers from the source at once

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None

    def __enter__(self) -> OpenedImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_image(loc: Location, options: Options = Options(), *, keep: str = "blob",
               workdir: str | None = None, verify: bool = True,
               stdin: IO[bytes] | None = None) -> OpenedImage:
    """Read the image at ``loc``.  From a registry, ``keep`` says how layers are kept
    ('blob', 'tar' or 'lazy': see ``registry.pull``) and ``workdir`` where they are staged.
    ``verify=False`` (inspect) skips checking compressed layers against their diff_ids up
    front.  ``stdin`` is the stream ``-`` reads (default: standard input)."""
    limit = options.max_decompressed
    if loc.transport == "docker":
        ref = loc.reference
        assert ref is not None
        client = options.registry.client(ref)
        pulled = pull(client, ref, wanted=options.platform or host_platform(), keep=keep,
                      workdir_parent=workdir, max_decompressed=limit, progress=options.progress)
        return OpenedImage(pulled.image, pulled.cleanup, (ref.api_host, ref.repository),
                           pulled.manifest_media_type == model.OCI_MANIFEST, client.cancel)
    if loc.transport == "stream":
        source = stdin if stdin is not None else sys.stdin.buffer
        return OpenedImage(docker_archive.read_docker_archive(
            source, verify=verify, max_decompressed=limit))
    if loc.transport == "oci":
        if not os.path.isdir(loc.path):
            raise NixliteError(f"'{loc.path}' is not a directory (an OCI image layout)"
                               + _registry_hint(loc))
        plat = options.platform
        where = {} if plat is None else {"os_name": plat.os, "arch": plat.architecture,
                                         "variant": plat.variant}
        image = oci_layout.read_oci_layout(loc.path, tag=loc.tag, verify=verify,
                                           max_decompressed=limit, **where)
        return OpenedImage(image, manifest_oci=True)
    if not os.path.exists(loc.path):
        raise NixliteError(f"'{loc.path}' does not exist" + _registry_hint(loc))
    if os.path.isdir(loc.path):
        raise NixliteError(f"'{loc.path}' is a directory, not a docker-archive file")
    tag = f"{loc.name[0]}:{loc.name[1]}" if loc.name else None
    return OpenedImage(docker_archive.read_docker_archive(loc.path, tag=tag, verify=verify,
                                                          max_decompressed=limit))


def _registry_hint(loc: Location) -> str:
    """For a missing file that reads as an image reference: the registry spelling."""
    if loc.text != loc.path or "/" not in loc.path and ":" not in loc.path:
        return ""
    try:
        parse_reference(loc.path)
    except NixliteError:
        return ""
    return f" (for an image in a registry, write docker://{loc.path})"


# --- destinations ------------------------------------------------------------------------------
def check_destination(loc: Location) -> None:
    """Refuse, before any work, a destination that cannot be written: a missing parent
    directory, a non-empty file as docker-archive (skopeo never replaces one), a file or a
    non-empty non-layout directory as OCI layout, a registry (that is ``push_from``)."""
    if loc.transport == "stream":
        return
    if loc.transport == "docker":
        raise NixliteError(f"'{loc}' is a registry: use 'nixlite image push' to write there")
    path = loc.path
    if loc.transport == "docker-archive":
        if os.path.isdir(path):
            raise NixliteError(f"cannot write docker-archive '{path}': it is a directory (to "
                               f"write an OCI layout there, use oci:{path} or --format oci)")
        _parent(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        if stat.S_ISREG(st.st_mode) and st.st_size > 0:
            raise NixliteError(f"cannot write docker-archive '{path}': the file already exists "
                               "(a docker-archive is not modified in place; remove it first)")
        return
    if _is_layout(path):
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise NixliteError(f"cannot write OCI layout '{path}': it is an existing file, not a "
                           "directory (to write a docker-archive, use --format docker-archive "
                           "or docker-archive:PATH)")
    if os.path.isdir(path) and os.listdir(path):
        raise NixliteError(f"cannot write OCI layout '{path}': the directory is not empty and "
                           "not an OCI layout")
    _parent(path)


def _is_layout(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "oci-layout"))


def _parent(path: str) -> str:
    parent = os.path.dirname(os.path.abspath(path.rstrip("/"))) or "/"
    if not os.path.isdir(parent):
        raise NixliteError(f"cannot write '{path}': directory '{parent}' does not exist")
    return parent


def staging_directory(loc: Location) -> str | None:
    """Where to stage data for ``loc``: beside it (the final rename stays on one file
    system), or the system's temporary directory for a stream.  Temporaries left there by
    killed runs are removed first."""
    if loc.transport == "stream":
        return None
    parent = _parent(loc.path)
    clear_stale_temporaries(parent)
    if loc.transport == "oci" and _is_layout(loc.path):  # added to in place: staged inside
        clear_stale_temporaries(loc.path)
        clear_stale_temporaries(os.path.join(loc.path, "blobs", "sha256"))
    return parent


@contextlib.contextmanager
def _writing(dest: Location) -> Iterator[None]:
    """OS errors while writing ``dest`` (a permission, a full disk) name it, never the
    temporary they happened in."""
    try:
        yield
    except OSError as e:
        name = e.filename if isinstance(e.filename, str) else ""
        if isinstance(e, BrokenPipeError) or (name and not is_temporary(name)):
            raise
        raise NixliteError(f"cannot write '{dest}': {e.strerror or e}") from None


def _write_layout(dest: str, write: Callable[[str], Any]) -> Any:
    """Add to an existing layout in place (blobs first, index.json replaced last, as
    skopeo does), or create a new one atomically."""
    if _is_layout(dest):
        return write(dest)
    return atomic_directory(dest, write)


def _archive_output(loc: Location, write: Callable[[IO[bytes]], None],
                    stdout: IO[bytes] | None, progress: Progress | None) -> None:
    def counted(out: IO[bytes]) -> None:
        write(progress.counting(out) if progress is not None else out)

    if loc.transport == "stream":
        out = stdout if stdout is not None else sys.stdout.buffer
        counted(out)
        out.flush()
    else:
        atomic_file(loc.path, counted)


def write_image(image: Image, loc: Location, *, name: tuple[str, str] | None = None,
                workdir: str | None = None, progress: Progress | None = None,
                stdout: IO[bytes] | None = None) -> None:
    """Write ``image`` to a docker-archive, a stream or an OCI layout.  ``name`` (full name,
    tag) is recorded in the archive's RepoTags (``loc.name`` wins) or as the layout's tag
    (``loc.tag`` wins; default ``latest``); ``workdir`` holds spooled layers."""
    check_destination(loc)
    with _writing(loc):
        if loc.transport in ("docker-archive", "stream"):
            tag = loc.name or name
            _archive_output(loc, lambda out: write_skopeo_archive(
                image, out, [tag] if tag else [], spool_dir=workdir, progress=progress),
                stdout, progress)
        else:
            _write_layout(loc.path, lambda path: oci_layout.write_oci_layout(
                image, path, tag=loc.tag or (name[1] if name else "latest"), progress=progress))


def copy_image(src: Location, dest: Location, options: Options = Options(), *,
               name: tuple[str, str] | None = None) -> None:
    """Copy between any source and a file destination (``nixlite image convert``).  The
    name recorded is ``name``, else the source's first RepoTag."""
    check_destination(dest)
    workdir = staging_directory(dest)
    with _writing(dest), open_image(src, options, workdir=workdir) as opened:
        if name is None and opened.image.repo_tags:
            name = name_and_tag(opened.image.repo_tags[0])
        progress = options.progress
        if progress is not None:
            progress.begin("writing", len(opened.image.layers))
        try:
            write_image(opened.image, dest, name=name, workdir=workdir, progress=progress)
        finally:
            if progress is not None:
                progress.end()


def pull_to(ref: Reference, dest: Location, options: Options = Options(), *,
            name: tuple[str, str] | None = None, stdout: IO[bytes] | None = None) -> None:
    """Pull ``ref`` into a docker-archive (skopeo's bytes), a stream or an OCI layout.  The
    archive records ``dest.name``, else ``name``, else (unless ``docker-archive:`` was
    spelled out) the reference's name and tag; the layout's tag is ``dest.tag``, else
    ``name``'s tag, else the reference's, else latest."""
    check_destination(dest)
    workdir = staging_directory(dest)
    with _writing(dest):
        _pull_to(ref, dest, options, name, stdout, workdir)


def _pull_to(ref: Reference, dest: Location, options: Options, name: tuple[str, str] | None,
             stdout: IO[bytes] | None, workdir: str | None) -> None:
    client = options.registry.client(ref)
    wanted = options.platform or host_platform()
    common = {"wanted": wanted, "max_decompressed": options.max_decompressed,
              "progress": options.progress}
    if dest.transport == "oci":
        tag = dest.tag or (name[1] if name else ref.tag or "latest")

        def write_layout(path: str) -> None:
            blobs = os.path.join(path, "blobs", "sha256")
            os.makedirs(blobs, exist_ok=True)
            with pull(client, ref, keep="blob", workdir_parent=path, blob_dir=blobs,
                      **common) as pulled:
                image = pulled.image
                if pulled.manifest_media_type != model.OCI_MANIFEST:  # as skopeo stores it
                    image = Image(oci_config_bytes(image.config), image.layers)
                oci_layout.write_oci_layout(image, path, tag=tag)

        _write_layout(dest.path, write_layout)
        return
    tag = dest.name or name or ((ref.name, ref.tag) if ref.tag and not dest.explicit else None)
    with pull(client, ref, keep="tar", workdir_parent=workdir, **common) as pulled:
        _archive_output(dest, lambda out: _write_pulled(pulled, out, tag, workdir), stdout,
                        None)


def _write_pulled(pulled: PulledImage, out: IO[bytes], tag: tuple[str, str] | None,
                  workdir: str | None) -> None:
    write_skopeo_archive(pulled.image, out, [tag] if tag else [], spool_dir=workdir,
                         layer_files=pulled.layer_files)


def push_from(src: Location, ref: Reference, options: Options = Options(), *,
              oci: bool | None = None, chunk_size: int | None = None) -> PushResult:
    """Push the image at ``src`` to ``ref``.  From the same registry, blobs are mounted
    rather than copied; from another registry they stream through without being staged.
    ``oci`` picks the manifest flavour (default: the source's)."""
    with open_image(src, options, keep="lazy") as opened:
        client = options.registry.client(ref)
        mount_from: dict[str, str] = {}
        if opened.source_repo and opened.source_repo[0] == ref.api_host:
            mount_from = {layer.digest: opened.source_repo[1] for layer in opened.image.layers}
            mount_from[opened.image.config_digest] = opened.source_repo[1]
        return push(client, opened.image, ref, oci=opened.manifest_oci if oci is None else oci,
                    mount_from=mount_from, chunk_size=chunk_size, progress=options.progress,
                    on_abort=opened.cancel)


def pull_image(image_name: str, image_digest: str | None, dest: str, *, final_name: str,
               final_tag: str, os_name: str = "linux", arch: str = "amd64",
               variant: str | None = None, tls_verify: bool = True,
               max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
               progress: Progress | None = None) -> None:
    """dockerTools' ``pullImage``: write ``dest`` (atomically) with the bytes of ``skopeo
    --override-os OS --override-arch ARCH copy docker://IMAGE[@DIGEST]
    docker-archive:DEST:NAME:TAG`` — the content a ``pullImage`` recipe's sha256 covers.
    ``progress`` hears of the layers and bytes."""
    ref = parse_reference(image_name if not image_digest else
                          f"{image_name.split('@')[0]}@{image_digest}")
    options = Options(RegistryAccess(tls_verify=tls_verify), Platform(os_name, arch, variant),
                      max_decompressed, progress)
    pull_to(ref, Location("docker-archive", dest, text=dest), options,
            name=name_and_tag(f"{final_name}:{final_tag}"))

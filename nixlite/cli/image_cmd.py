"""``nixlite image``: pull, push, convert and inspect container images.

Flag spellings follow skopeo and crane.  An image location (SRC/DEST) is one of:

* ``docker://[HOST/]NAME[:TAG|@DIGEST]`` — a registry;
* ``docker-archive:PATH[:NAME:TAG]`` or a plain file path — a docker-archive (``docker save``
  / ``skopeo`` / dockerTools tarball, gzip-compressed or not);
* ``oci:DIR[:TAG]`` or an existing directory — an OCI image layout;
* ``-`` — a docker-archive on standard input / output.

docker-archives are written exactly as skopeo 1.9.3 writes them, so ``nixlite image pull
REF -o F --tag N:T`` produces the bytes a ``pullImage`` recipe's sha256 was computed over.
Every output is written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass

from nixlite.errors import NixliteError
from nixlite.image.files import atomic_file


def _bool_flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of times (0 or more), got '{text}'")
    return value


def _add_tls(p: argparse.ArgumentParser, *names: str) -> None:
    p.add_argument(*names, dest="tls_verify", type=_bool_flag, nargs="?", const=True,
                   default=True, metavar="BOOL",
                   help="require HTTPS and verify certificates (default true; "
                        "--tls-verify=false also allows plain-HTTP registries)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--creds", metavar="USER[:PASSWORD]",
                   help="registry credentials (default: from the Docker/containers auth files)")
    p.add_argument("--authfile", metavar="PATH",
                   help="read credentials from this auth file only")
    p.add_argument("--retry-times", type=_count, default=4, metavar="N",
                   help="retries of transient registry errors (default 4)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.add_argument("--max-decompressed-size", metavar="SIZE",
                   help="refuse a layer or archive that decompresses to more than SIZE "
                        "(e.g. 512M, 32G; default $NIXLITE_MAX_DECOMPRESSED_SIZE or 16G)")


def _add_platform(p: argparse.ArgumentParser) -> None:
    p.add_argument("--os", "--override-os", dest="os", metavar="OS",
                   help="operating system to pick from a multi-platform image (default linux)")
    p.add_argument("--arch", "--override-arch", dest="arch", metavar="ARCH",
                   help="architecture to pick (default: this machine's)")
    p.add_argument("--variant", "--override-variant", dest="variant", metavar="VARIANT",
                   help="CPU variant to pick, e.g. v7 or v8")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="all three at once, as crane spells it")


def register(subparsers) -> None:
    p = subparsers.add_parser("image", help="pull, push, convert and inspect container images",
                              description="Pull, push, convert and inspect container images "
                              "(docker://REF, docker-archive files, OCI layout directories, - "
                              "for a stream).  Flags are spelled as in skopeo and crane.")
    sub = p.add_subparsers(dest="image_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])

    pull = sub.add_parser("pull", help="copy an image from a registry to an archive or layout",
                          description="Pull REF from a registry into DEST.  A docker-archive is "
                          "byte-identical to `skopeo copy docker://REF docker-archive:DEST:NAME:TAG`.")
    pull.add_argument("ref", metavar="REF")
    pull.add_argument("-o", "--output", required=True, metavar="DEST",
                      help="file (docker-archive), directory (OCI layout) or - (stdout)")
    pull.add_argument("--format", choices=("docker-archive", "oci"), default=None,
                      help="output format (default docker-archive; oci for a directory)")
    pull.add_argument("--tag", metavar="NAME:TAG",
                      help="name recorded in the archive's RepoTags (default: REF's name and tag)")
    _add_platform(pull)
    _add_tls(pull, "--tls-verify", "--src-tls-verify")
    _add_common(pull)
    pull.set_defaults(func=_with_limits(run_pull))

    push = sub.add_parser("push", help="copy an image to a registry",
                          description="Push SRC (archive, OCI layout, -, or docker://) to REF.")
    push.add_argument("src", metavar="SRC")
    push.add_argument("ref", metavar="REF")
    push.add_argument("--format", choices=("v2s2", "oci"), default=None,
                      help="manifest type to write (default: v2s2, or oci for an OCI source)")
    push.add_argument("--chunk-size", type=int, default=None, metavar="BYTES",
                      help="upload blobs in chunks of this size instead of one request")
    _add_platform(push)
    _add_tls(push, "--tls-verify", "--dest-tls-verify")
    _add_common(push)
    push.set_defaults(func=_with_limits(run_push))

    convert = sub.add_parser("convert", help="convert between docker-archive and OCI layout",
                             description="Copy SRC to DEST, converting the format "
                             "(docker-archive <-> OCI layout).")
    convert.add_argument("src", metavar="SRC")
    convert.add_argument("dest", metavar="DEST")
    convert.add_argument("--format", choices=("docker-archive", "oci"), default=None,
                         help="output format (default: the other one)")
    convert.add_argument("--tag", metavar="NAME:TAG", help="name to record in the output")
    _add_platform(convert)
    _add_tls(convert, "--tls-verify")
    _add_common(convert)
    convert.set_defaults(func=_with_limits(run_convert))

    inspect = sub.add_parser("inspect", help="show an image's metadata (like skopeo inspect)")
    inspect.add_argument("src", metavar="SRC")
    inspect.add_argument("--json", action="store_true", help="print skopeo-style JSON")
    inspect.add_argument("--raw", action="store_true", help="print the raw manifest")
    inspect.add_argument("--config", action="store_true", help="print the image config")
    _add_platform(inspect)
    _add_tls(inspect, "--tls-verify")
    _add_common(inspect)
    inspect.set_defaults(func=_with_limits(run_inspect))


def _with_limits(run):
    """Apply the options every subcommand shares before running it."""

    def wrapped(args) -> int:
        from nixlite.image.compression import max_decompressed, parse_size, set_max_decompressed

        if args.max_decompressed_size is not None:
            set_max_decompressed(parse_size(args.max_decompressed_size, "--max-decompressed-size"))
        else:  # a bad value is an error now, not when (or if) something is decompressed
            set_max_decompressed(max_decompressed())
        try:
            return run(args)
        except BrokenPipeError:
            raise  # the reader went away: main exits quietly
        except OSError as e:  # a full disk, a permission: the user's to fix, not a bug
            where = f"'{e.filename}': " if e.filename else ""
            raise NixliteError(f"{where}{e.strerror or e}") from None
        finally:
            set_max_decompressed(None)

    return wrapped


# --- locations ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Location:
    kind: str  # 'registry', 'archive', 'oci', 'stream'
    path: str = ""
    ref: object = None  # Reference for registry; tag str for oci; (name, tag) for archive


def parse_location(text: str, *, for_output: bool = False, fmt: str | None = None) -> Location:
    from nixlite.image.registry.reference import parse_reference

    if text == "-":
        return Location("stream")
    if text.startswith("docker://"):
        return Location("registry", ref=parse_reference(text))
    if text.startswith("docker-archive:"):
        rest = text[len("docker-archive:"):]
        path, _, name = rest.partition(":")
        return Location("archive", path, _name_tag(name) if name else None)
    if text.startswith("oci:"):
        path, _, tag = text[len("oci:"):].partition(":")
        return Location("oci", path, tag or None)
    if fmt == "oci":
        return Location("oci", text)
    if fmt == "docker-archive":
        return Location("archive", text)
    if os.path.isdir(text) or (for_output and text.endswith("/")):
        return Location("oci", text)
    return Location("archive", text)


def _name_tag(text: str) -> tuple[str, str]:
    """``NAME[:TAG]`` → (full normalised name, tag) as skopeo records it."""
    from nixlite.image.registry.reference import parse_reference

    ref = parse_reference(text)
    if ref.digest:
        raise NixliteError(f"'{text}': a name for an archive needs a tag, not a digest")
    return ref.name, ref.tag or "latest"


def _platform(args):
    from nixlite.image.registry.pull import Platform, host_platform

    default = host_platform()
    os_, arch, variant = args.os, args.arch, args.variant
    if args.platform:
        parts = args.platform.split("/")
        if not 2 <= len(parts) <= 3 or not all(parts):
            raise NixliteError(f"invalid --platform '{args.platform}' (expected OS/ARCH[/VARIANT])")
        os_, arch = parts[0], parts[1]
        variant = parts[2] if len(parts) == 3 else variant
    if arch is None:
        return Platform(os_ or default.os, default.architecture, variant or default.variant)
    return Platform(os_ or "linux", arch, variant)


def _client(ref, args):
    from nixlite.image.registry import client_for

    from nixlite.image.registry.auth import parse_creds

    creds = parse_creds(args.creds) if args.creds else True
    return client_for(ref, tls_verify=args.tls_verify, retries=args.retry_times,
                      credentials=creds, auth_file=args.authfile)


def _note(args, text: str) -> None:
    if not args.quiet:
        sys.stderr.write(text + "\n")


# --- reading ---------------------------------------------------------------------------------
class Opened:
    """An image read from a location, plus what to clean up afterwards."""

    def __init__(self, image, cleanup=None, source_repo=None, manifest_oci=False):
        self.image = image
        self._cleanup = cleanup or []
        self.source_repo = source_repo  # (api host, repository) for cross-repository mounts
        self.manifest_oci = manifest_oci

    def close(self) -> None:
        for fn in self._cleanup:
            fn()


def open_image(loc: Location, args, *, keep: str = "blob", workdir: str | None = None,
               verify: bool = True) -> Opened:
    """Open SRC; ``verify=False`` (inspect) skips hashing a docker-archive's compressed
    layer members up front."""
    if loc.kind == "registry":
        from nixlite.image import model
        from nixlite.image.registry.pull import pull

        ref = loc.ref
        pulled = pull(_client(ref, args), ref, wanted=_platform(args), keep=keep,
                      workdir_parent=workdir)
        return Opened(pulled.image, [pulled.cleanup], (ref.api_host, ref.repository),
                      pulled.manifest_media_type == model.OCI_MANIFEST)
    if loc.kind == "stream":
        from nixlite.image import docker_archive

        return Opened(docker_archive.read_docker_archive(sys.stdin.buffer, verify=verify))
    if loc.kind == "oci":
        from nixlite.image import oci_layout

        if not os.path.isdir(loc.path):
            raise NixliteError(f"'{loc.path}' is not a directory (an OCI image layout)")
        image = oci_layout.read_oci_layout(loc.path, tag=loc.ref, verify=verify,
                                           **_layout_platform(args))
        return Opened(image, manifest_oci=True)
    from nixlite.image import docker_archive

    if not os.path.exists(loc.path):
        raise NixliteError(f"'{loc.path}' does not exist")
    if os.path.isdir(loc.path):
        raise NixliteError(f"'{loc.path}' is a directory, not a docker-archive file")
    tag = f"{loc.ref[0]}:{loc.ref[1]}" if loc.ref else None
    return Opened(docker_archive.read_docker_archive(loc.path, tag=tag, verify=verify))


def _layout_platform(args) -> dict:
    if not (args.os or args.arch or args.variant or args.platform):
        return {}
    plat = _platform(args)
    return {"os_name": plat.os, "arch": plat.architecture, "variant": plat.variant}


# --- writing ---------------------------------------------------------------------------------
def _check_archive_dest(path: str) -> None:
    """Refuse, before any work, a docker-archive destination skopeo refuses: an existing
    non-empty file is never replaced (``docker-archive doesn't support modifying existing
    images``), an empty one or a device such as /dev/stdout is written."""
    if os.path.isdir(path):
        raise NixliteError(f"cannot write docker-archive '{path}': it is a directory (to write "
                           f"an OCI layout there, use oci:{path} or --format oci)")
    _check_parent(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and st.st_size > 0:
        raise NixliteError(f"cannot write docker-archive '{path}': the file already exists "
                           "(a docker-archive is not modified in place; remove it first)")


def _check_parent(path: str) -> str:
    parent = os.path.dirname(os.path.abspath(path.rstrip("/"))) or "."
    if not os.path.isdir(parent):
        raise NixliteError(f"cannot write '{path}': directory '{parent}' does not exist")
    return parent


def _check_layout_dest(path: str) -> None:
    """Refuse, before any work, an OCI layout destination that cannot be written: a file,
    a non-empty directory that is not a layout, a missing parent directory."""
    if os.path.isfile(os.path.join(path, "oci-layout")):
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise NixliteError(f"cannot write OCI layout '{path}': it is an existing file, not a "
                           "directory (to write a docker-archive, use --format docker-archive "
                           "or docker-archive:PATH)")
    if os.path.isdir(path) and os.listdir(path):
        raise NixliteError(f"cannot write OCI layout '{path}': the directory is not empty and "
                           "not an OCI layout")
    _check_parent(path)


def _atomic_dir(dest: str, write) -> None:
    """Write a directory through ``write(path)`` under a temporary name, then rename; an
    existing empty directory is replaced, an existing OCI layout is added to (as skopeo
    does), any other non-empty directory is refused."""
    _check_layout_dest(dest)
    if os.path.isfile(os.path.join(dest, "oci-layout")):
        write(dest)  # add to an existing layout: blobs first, index.json replaced last
        return
    parent = _check_parent(dest)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(dest.rstrip('/'))}.", dir=parent)
    try:
        write(tmp)
        os.chmod(tmp, 0o755)
        if os.path.isdir(dest):
            os.rmdir(dest)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_image(image, loc: Location, *, tag: tuple[str, str] | None, oci_tag: str | None,
                workdir: str | None) -> None:
    if loc.kind in ("archive", "stream"):
        from nixlite.image.skopeo_archive import skopeo_archive_chunks

        if loc.kind == "archive" and loc.ref:  # docker-archive:PATH:NAME:TAG names it
            tag = loc.ref
        tags = [tag] if tag else []

        def write(out):
            for chunk in skopeo_archive_chunks(image, tags, spool_dir=workdir):
                out.write(chunk)

        if loc.kind == "stream":
            write(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            _check_archive_dest(loc.path)
            atomic_file(loc.path, write)
        return
    if loc.kind == "oci":
        from nixlite.image import oci_layout

        _atomic_dir(loc.path, lambda path: oci_layout.write_oci_layout(
            image, path, tag=loc.ref or oci_tag or "latest"))
        return
    raise NixliteError("internal: registry destinations are written by push")


# --- commands --------------------------------------------------------------------------------
def run_pull(args) -> int:
    from nixlite.image.registry.pull import pull
    from nixlite.image.registry.reference import parse_reference

    ref = parse_reference(args.ref)
    fmt = args.format
    if fmt is None:
        fmt = "oci" if (args.output != "-" and (os.path.isdir(args.output)
                                                or args.output.endswith("/"))) else "docker-archive"
    if fmt == "oci" and args.output == "-":
        raise NixliteError("an OCI layout is a directory and cannot be written to standard output")
    tag = _name_tag(args.tag) if args.tag else ((ref.name, ref.tag) if ref.tag else None)
    workdir = None if args.output == "-" else \
        os.path.dirname(os.path.abspath(args.output.rstrip("/")))
    if workdir and not os.path.isdir(workdir):
        raise NixliteError(f"cannot write '{args.output}': directory '{workdir}' does not exist")
    if fmt == "docker-archive" and args.output != "-":
        _check_archive_dest(args.output)
    elif fmt == "oci":
        _check_layout_dest(args.output)
    client = _client(ref, args)
    if fmt == "oci":
        from nixlite.image import oci_layout

        def write_layout(path: str) -> None:
            blobs = os.path.join(path, "blobs", "sha256")
            os.makedirs(blobs, exist_ok=True)
            pulled = pull(client, ref, wanted=_platform(args), keep="blob", workdir_parent=path,
                          blob_dir=blobs)
            try:
                oci_layout.write_oci_layout(pulled.image, path,
                                            tag=tag[1] if tag else (ref.tag or "latest"))
            finally:
                pulled.cleanup()

        _atomic_dir(args.output, write_layout)
    else:
        from nixlite.image.skopeo_archive import write_skopeo_archive

        pulled = pull(client, ref, wanted=_platform(args), keep="tar", workdir_parent=workdir)
        tags = [tag] if tag else []
        try:
            def write(out) -> None:
                write_skopeo_archive(pulled.image, out, tags, spool_dir=workdir,
                                     layer_files=pulled.layer_files)

            if args.output == "-":
                write(sys.stdout.buffer)
                sys.stdout.buffer.flush()
            else:
                atomic_file(args.output, write)
        finally:
            pulled.cleanup()
    _note(args, f"pulled {ref} to {args.output} ({fmt})")
    return 0


def run_push(args) -> int:
    from nixlite.image.registry.push import push
    from nixlite.image.registry.reference import parse_reference

    target = parse_reference(args.ref)
    src = parse_location(args.src)
    opened = open_image(src, args, keep="lazy")  # from a registry: stream only what is needed
    try:
        client = _client(target, args)
        mount_from = {}
        if opened.source_repo and opened.source_repo[0] == target.api_host:
            mount_from = {layer.digest: opened.source_repo[1] for layer in opened.image.layers}
            mount_from[opened.image.config_digest] = opened.source_repo[1]
        oci = (args.format == "oci") if args.format else opened.manifest_oci
        result = push(client, opened.image, target, oci=oci, mount_from=mount_from,
                      chunk_size=args.chunk_size)
    finally:
        opened.close()
    _note(args, f"pushed {target} ({result.digest}): {result.uploaded} blobs uploaded, "
                f"{result.mounted} mounted, {result.existing} already present")
    if not args.quiet:
        print(f"{target.name}@{result.digest}")
    return 0


def run_convert(args) -> int:
    src = parse_location(args.src)
    # a transport prefix or - in DEST decides; else --format; else the other format
    dest_fmt = args.format or ("oci" if src.kind in ("archive", "stream") else "docker-archive")
    dest = parse_location(args.dest, for_output=True, fmt=dest_fmt)
    if dest.kind == "registry":
        raise NixliteError("use 'nixlite image push' to write to a registry")
    if dest.kind == "stream" and args.format == "oci":
        raise NixliteError("an OCI layout is a directory and cannot be written to standard output")
    workdir = None if dest.kind == "stream" else \
        os.path.dirname(os.path.abspath(dest.path.rstrip("/")))
    if dest.kind == "archive":
        _check_archive_dest(dest.path)
    elif dest.kind == "oci":
        _check_layout_dest(dest.path)
    opened = open_image(src, args, keep="blob", workdir=workdir)
    try:
        tag = _name_tag(args.tag) if args.tag else None
        if tag is None and opened.image.repo_tags:
            tag = _name_tag(opened.image.repo_tags[0])
        write_image(opened.image, dest, tag=tag, oci_tag=tag[1] if tag else None, workdir=workdir)
    finally:
        opened.close()
    _note(args, f"converted {args.src} to {args.dest}")
    return 0


def run_inspect(args) -> int:
    from nixlite.image.model import sha256_digest

    src = parse_location(args.src)
    if src.kind == "registry":
        return _inspect_registry(args, src.ref)
    opened = open_image(src, args, verify=False)
    try:
        image = opened.image
        image.check_layers_match_config()
        if args.config:  # before --raw: skopeo's --config --raw is the raw config
            sys.stdout.buffer.write(image.config_bytes)
            sys.stdout.buffer.flush()
            return 0
        if src.kind == "oci":
            manifest = image.manifest_bytes(True)
            layers = [layer.digest for layer in image.layers]
        else:  # a docker-archive, as skopeo's docker-archive source describes it
            from nixlite.image.docker_archive import skopeo_view_manifest

            manifest = skopeo_view_manifest(image)
            layers = list(image.diff_ids)
        if args.raw:
            sys.stdout.buffer.write(manifest)
            sys.stdout.buffer.flush()
            return 0
        # RepoTags lists a registry repository's tags; skopeo leaves it empty elsewhere
        info = _inspect_info(image.config, sha256_digest(manifest), [], layers)
    finally:
        opened.close()
    _print_info(args, info)
    return 0


def _inspect_registry(args, ref) -> int:
    from nixlite.image.model import Image
    from nixlite.image.registry.pull import MANIFEST_ACCEPT, fetch_config, resolve_manifest

    client = _client(ref, args)
    if args.raw:  # as skopeo: the manifest REF names, an index included
        body = client.get_manifest(ref.repository, ref.ref, MANIFEST_ACCEPT)[0]
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return 0
    body, media_type, digest, index_digest = resolve_manifest(client, ref, _platform(args))
    config_bytes, layer_descs = fetch_config(client, ref, body)
    if args.config:
        sys.stdout.buffer.write(config_bytes)
        sys.stdout.buffer.flush()
        return 0
    image = Image(config_bytes, [])
    tags = client.list_tags(ref.repository)
    info = {"Name": ref.name}
    info.update(_inspect_info(image.config, index_digest or digest, tags,
                              [d["digest"] for d in layer_descs]))
    _print_info(args, info)
    return 0


def _inspect_info(config, digest, tags, layers) -> dict:
    """The fields ``skopeo inspect`` (1.9) prints, in its order."""
    inner = config.get("config")
    if not isinstance(inner, dict):
        inner = {}
    return {"Digest": digest, "RepoTags": tags, "Created": config.get("created"),
            "DockerVersion": config.get("docker_version") or "",
            "Labels": inner.get("Labels"), "Architecture": config.get("architecture"),
            "Os": config.get("os"), "Layers": layers, "Env": inner.get("Env")}


def _print_info(args, info: dict) -> None:
    if args.json:
        from nixlite.image.jsonstyle import go_json_indented

        print(go_json_indented(info))
        return
    for key, value in info.items():
        if isinstance(value, list):
            print(f"{key}:" + ("" if value else " (none)"))
            for item in value:
                print(f"  {item}")
        elif isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}={v}")
        else:
            print(f"{key}: {value if value is not None else ''}".rstrip())

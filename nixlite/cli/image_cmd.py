"""``nixlite image``: pull, push, convert and inspect container images.

Flag spellings follow skopeo (``--tls-verify``, ``--creds``, ``--authfile``, ``--override-os``
…) and crane (``--insecure``, ``--platform``, ``pull IMAGE TARBALL``).  Locations are those of
``nixlite.image.transports``; this module only parses arguments, calls the library and prints
(results on stdout, progress on a terminal's stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import threading

from nixlite.activity import Verbosity
from nixlite.errors import NixliteError
from nixlite.image.files import clear_stale_temporaries, printable
from nixlite.cli import logs
from nixlite.image.progress import Progress

LOCATIONS = ("docker://REF (a registry), docker-archive:PATH[:NAME:TAG], oci:DIR[:TAG], "
             "a plain path (an existing directory is an OCI layout, anything else a "
             "docker-archive), or - (a docker-archive on stdin/stdout)")


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


def _seconds(text: str) -> float:
    try:
        value = float(text.removesuffix("s"))
    except ValueError:
        value = -1.0
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got '{text}'")
    return value


def add_tls_argument(p: argparse.ArgumentParser, *names: str) -> None:
    p.add_argument(*names, dest="tls_verify", type=_bool_flag, nargs="?", const=True,
                   default=True, metavar="BOOL",
                   help="require HTTPS and verify certificates (default true; "
                        "--tls-verify=false also allows plain-HTTP registries)")
    p.add_argument("--insecure", dest="tls_verify", action="store_false",
                   help="crane's spelling of --tls-verify=false")


def add_registry_arguments(p: argparse.ArgumentParser, log_flags: bool = True) -> None:
    """Credentials, retries, time-outs and limits of registry transfers (and, unless the
    command has them already, the output flags)."""
    p.add_argument("--creds", metavar="USER[:PASSWORD]",
                   help="registry credentials (default: from the Docker/containers auth files)")
    p.add_argument("--authfile", metavar="PATH",
                   help="read credentials from this auth file only")
    p.add_argument("--retry-times", type=_count, default=4, metavar="N",
                   help="retries of transient registry errors (default 4)")
    p.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="give up on a registry connection that sends nothing (or under 1 KiB) "
                        "for this long (default 30; then retried as a transient error)")
    if log_flags:
        logs.add_arguments(p, ("-q", "--quiet"), "print nothing on success")
    p.add_argument("--max-decompressed-size", metavar="SIZE",
                   help="refuse a layer or archive that decompresses to more than SIZE "
                        "(e.g. 512M, 32G; default $NIXLITE_MAX_DECOMPRESSED_SIZE or 16G)")


def add_platform_argument(p: argparse.ArgumentParser) -> None:
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
                              description="Pull, push, convert and inspect container images.  "
                              f"A location is {LOCATIONS}.  Flags are spelled as in skopeo; "
                              "crane's --insecure, --platform and 'pull IMAGE TARBALL' work too.")
    sub = p.add_subparsers(dest="image_command", metavar="SUBCOMMAND")
    p.set_defaults(func=_needs_subcommand)

    pull = sub.add_parser("pull", help="copy an image from a registry to an archive or layout",
                          description="Pull REF from a registry into DEST (-o DEST, or crane's "
                          "second argument).  A docker-archive is byte-identical to `skopeo "
                          "copy docker://REF docker-archive:DEST:NAME:TAG`.")
    pull.add_argument("ref", metavar="REF")
    pull.add_argument("dest_arg", nargs="?", metavar="DEST", help="as -o DEST (crane's form)")
    pull.add_argument("-o", "--output", metavar="DEST",
                      help="docker-archive:FILE[:NAME:TAG], oci:DIR[:TAG], a plain file "
                           "(docker-archive) or directory (OCI layout), or - (stdout)")
    pull.add_argument("--format", choices=("docker-archive", "oci"), default=None,
                      help="format of a plain DEST path (default docker-archive; oci for an "
                           "existing directory or a path ending in /)")
    pull.add_argument("--tag", metavar="NAME:TAG",
                      help="name recorded in the archive's RepoTags (default: REF's name and "
                           "tag for a plain DEST; none for docker-archive:FILE, as in skopeo)")
    add_platform_argument(pull)
    add_tls_argument(pull, "--tls-verify", "--src-tls-verify")
    add_registry_arguments(pull)
    pull.set_defaults(func=_command(run_pull))

    push = sub.add_parser("push", help="copy an image to a registry",
                          description="Push SRC (a location, e.g. an archive, an OCI layout, "
                          "- or docker://) to REF.")
    push.add_argument("src", metavar="SRC")
    push.add_argument("ref", metavar="REF")
    push.add_argument("--format", choices=("v2s2", "oci"), default=None,
                      help="manifest type to write (default: v2s2, or oci for an OCI source)")
    push.add_argument("--chunk-size", type=int, default=None, metavar="BYTES",
                      help="upload blobs in chunks of this size instead of one request")
    add_platform_argument(push)
    add_tls_argument(push, "--tls-verify", "--dest-tls-verify")
    add_registry_arguments(push)
    push.set_defaults(func=_command(run_push))

    convert = sub.add_parser("convert", help="convert between docker-archive and OCI layout",
                             description="Copy SRC to DEST, converting the format "
                             "(docker-archive <-> OCI layout).")
    convert.add_argument("src", metavar="SRC")
    convert.add_argument("dest", metavar="DEST")
    convert.add_argument("--format", choices=("docker-archive", "oci"), default=None,
                         help="format of a plain DEST path (default: the other one)")
    convert.add_argument("--tag", metavar="NAME:TAG", help="name to record in the output")
    add_platform_argument(convert)
    add_tls_argument(convert, "--tls-verify")
    add_registry_arguments(convert)
    convert.set_defaults(func=_command(run_convert))

    inspect = sub.add_parser("inspect", help="show an image's metadata (as skopeo inspect)",
                             description="Print what `skopeo inspect` prints: JSON about SRC, "
                             "its raw manifest (--raw), its config (--config) or raw config "
                             "(--config --raw).")
    inspect.add_argument("src", metavar="SRC")
    inspect.add_argument("--json", action="store_true",
                         help="JSON (the default, accepted for compatibility)")
    inspect.add_argument("--raw", action="store_true", help="print the raw manifest")
    inspect.add_argument("--config", action="store_true", help="print the image config")
    add_platform_argument(inspect)
    add_tls_argument(inspect, "--tls-verify")
    add_registry_arguments(inspect)
    inspect.set_defaults(func=_command(run_inspect))


def _needs_subcommand(args) -> int:
    raise NixliteError("'nixlite image' needs a subcommand: pull, push, convert or inspect "
                       "(see 'nixlite image --help')")


# --- what every subcommand shares ----------------------------------------------------------------
def transfer_options(args):
    """The library options the flags ask for (limits and credentials checked now)."""
    from nixlite.image.compression import limit_from_environment, parse_size
    from nixlite.image.registry.auth import check_auth_file, parse_creds
    from nixlite.image.registry.client import DEFAULT_TIMEOUT
    from nixlite.image.transports import Options, RegistryAccess

    if args.max_decompressed_size is not None:
        limit = parse_size(args.max_decompressed_size, "--max-decompressed-size")
    else:  # a bad value is an error now, not when (or if) something is decompressed
        limit = limit_from_environment()
    if args.authfile is not None:
        check_auth_file(args.authfile)
    registry = RegistryAccess(tls_verify=args.tls_verify, retries=args.retry_times,
                              credentials=parse_creds(args.creds) if args.creds else True,
                              auth_file=args.authfile, timeout=args.timeout or DEFAULT_TIMEOUT)
    return Options(registry, _platform(args), limit, Progress(args.logger))


def _platform(args):
    from nixlite.image.registry.pull import Platform, host_platform

    if not (args.os or args.arch or args.variant or args.platform):
        return None
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


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: transfers cancelled, temporaries removed, exit 130."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _command(run):
    """Run a subcommand with the flags every one shares; an OS error left (a source that
    cannot be read) becomes a message."""

    def wrapped(args) -> int:
        with sigterm_as_interrupt():
            clear_stale_temporaries(tempfile.gettempdir())
            try:
                return run(args, transfer_options(args))
            except BrokenPipeError:
                raise  # the reader went away: main exits quietly
            except NixliteError as e:  # names from archives, layouts, servers: no escapes
                safe = printable(e.message, None)
                if safe != e.message and e.pos is None:
                    raise NixliteError(safe) from None
                raise
            except OSError as e:  # a permission, a full disk: the user's to fix, not a bug
                where = f"'{e.filename}': " if isinstance(e.filename, str) else ""
                raise NixliteError(f"{where}{e.strerror or e}") from None

    return wrapped


def _note(args, text: str) -> None:
    args.logger.log(Verbosity.INFO, text)


def _write_stdout(data: bytes) -> None:
    logs.clear()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


# --- commands ------------------------------------------------------------------------------------
def run_pull(args, options) -> int:
    from nixlite.image.registry.reference import parse_reference
    from nixlite.image.transports import name_and_tag, parse_location, pull_to

    if (args.output is None) == (args.dest_arg is None):
        raise NixliteError("'nixlite image pull' needs one destination: -o DEST or a second "
                           "argument (as in 'crane pull IMAGE TARBALL')")
    output = args.output if args.output is not None else args.dest_arg
    ref = parse_reference(args.ref)
    dest = parse_location(output, output=True, default_format=args.format)
    if dest.transport == "stream" and args.format == "oci":
        raise NixliteError("an OCI layout is a directory and cannot be written to standard output")
    pull_to(ref, dest, options, name=name_and_tag(args.tag) if args.tag else None)
    fmt = "oci" if dest.transport == "oci" else "docker-archive"
    _note(args, f"pulled {ref} to {output} ({fmt})")
    return 0


def _source(args, command: str, rest: str):
    """The location SRC names; a ``streamLayeredImage`` result (a script that writes the
    archive) is refused with the pipe that does what was meant."""
    from nixlite.compare.image import is_stream_script
    from nixlite.image.transports import parse_location

    if is_stream_script(args.src):
        shown = args.src if "/" in args.src else f"./{args.src}"
        raise NixliteError(f"'{args.src}' is a script that writes the image (as "
                           f"streamLayeredImage makes): run it, as in '{shown} | nixlite image "
                           f"{command} -{' ' + rest if rest else ''}'")
    return parse_location(args.src)


def run_push(args, options) -> int:
    from nixlite.image.registry.reference import parse_reference
    from nixlite.image.transports import push_from

    target = parse_reference(args.ref)
    result = push_from(_source(args, "push", args.ref), target, options,
                       oci=(args.format == "oci") if args.format else None,
                       chunk_size=args.chunk_size)
    _note(args, f"pushed {target} ({result.digest}): {result.uploaded} blobs uploaded, "
                f"{result.mounted} mounted, {result.existing} already present")
    if not args.quiet:
        _write_stdout(f"{target.name}@{result.digest}\n".encode())
    return 0


def run_convert(args, options) -> int:
    from nixlite.image.transports import copy_image, name_and_tag, parse_location

    src = _source(args, "convert", args.dest)
    # a transport prefix or - in DEST decides; else --format; else the other format
    default = args.format or ("oci" if src.transport in ("docker-archive", "stream")
                              else "docker-archive")
    dest = parse_location(args.dest, output=True, default_format=default)
    if dest.transport == "stream" and args.format == "oci":
        raise NixliteError("an OCI layout is a directory and cannot be written to standard output")
    copy_image(src, dest, options, name=name_and_tag(args.tag) if args.tag else None)
    _note(args, f"converted {args.src} to {args.dest}")
    return 0


def run_inspect(args, options) -> int:
    from nixlite.image import inspection

    src = _source(args, "inspect", "")
    if args.config and args.raw:  # skopeo's --config --raw is the raw config
        _write_stdout(inspection.raw_config(src, options))
    elif args.raw:
        _write_stdout(inspection.raw_manifest(src, options))
    elif args.config:
        _write_stdout(inspection.config_json(src, options).encode() + b"\n")
    else:
        _write_stdout(inspection.inspect_json(src, options).encode() + b"\n")
    return 0

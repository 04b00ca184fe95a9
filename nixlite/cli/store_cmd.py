"""``nixlite store``: inspect, add to and collect garbage in the local store.

Subcommands: ``path-info`` (hash, size, references; ``--json``), ``cat``
(a file inside a store path), ``dump`` (NAR to stdout, as ``nix-store
--dump``), ``add`` (copy a path in, print its store path, as ``nix-store
--add[-fixed]``), ``requisites`` (the closure), ``show-derivation`` (a .drv
as JSON, as ``nix show-derivation``), ``verify`` (check contents against the
database; ``--sigs`` also signatures), ``log`` (a build log, as ``nix-store -l``),
``gc`` (as ``nix-store --gc``: roots are result links and ``gcroots/``), ``delete``
(as ``nix-store --delete``).  Binary caches: ``copy --to/--from URL`` (closures, as
``nix copy``), ``sign`` (as ``nix store sign``) and ``generate-key`` (the files
``nix-store --generate-binary-cache-key`` writes).  Paths are logical (``/nix/store/…``).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys

from nixlite.cli import nix_settings


def register(subparsers) -> None:
    p = subparsers.add_parser("store", help="inspect and add to the nixlite store",
                              description="Inspect and add to the nixlite store.")
    store_help = "the nixlite store to use (default: $NIXLITE_STORE or ~/.local/share/nixlite/store)"
    p.add_argument("--store", metavar="DIR", help=store_help)
    # --store may also follow the subcommand; SUPPRESS keeps an earlier one when it does not
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--store", metavar="DIR", default=argparse.SUPPRESS, help=store_help)
    sub = p.add_subparsers(dest="store_command", metavar="SUBCOMMAND", required=True)

    def add(name: str, **kw):
        return sub.add_parser(name, parents=[after], **kw)

    q = add("path-info", help="show NAR hash, size, references of store paths")
    q.add_argument("paths", nargs="+", metavar="PATH")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("-r", "--recursive", action="store_true", help="include the closure")
    q.set_defaults(func=_path_info)

    q = add("cat", help="print a file that is (inside) a store path")
    q.add_argument("path", metavar="PATH")
    q.set_defaults(func=_cat)

    q = add("dump", help="write the NAR serialisation of a store path to stdout")
    q.add_argument("path", metavar="PATH")
    q.set_defaults(func=_dump)

    q = add("add", help="add a file or directory to the store and print its path")
    q.add_argument("paths", nargs="+", metavar="PATH")
    q.add_argument("--flat", action="store_true", help="hash the file itself, not its NAR")
    q.add_argument("--name", help="store path name (default: the basename)")
    q.set_defaults(func=_add)

    q = add("requisites", help="print the closure of store paths")
    q.add_argument("paths", nargs="+", metavar="PATH")
    q.set_defaults(func=_requisites)

    q = add("show-derivation", help="print a store derivation as JSON")
    q.add_argument("paths", nargs="+", metavar="DRV")
    q.set_defaults(func=_show_derivation)

    q = add("verify", help="check every valid path against its recorded NAR hash")
    q.add_argument("--sigs", action="store_true",
                   help="also require a valid signature by a trusted public key (or content addressing)")
    nix_settings.add_arguments(q)
    q.set_defaults(func=_verify)

    q = add("log", help="print the build log of a derivation or of an output it built")
    q.add_argument("paths", nargs="+", metavar="PATH")
    q.set_defaults(func=_log)

    q = add("gc", help="delete the store paths that no GC root (result link) reaches")
    q.add_argument("--dry-run", "--print-dead", dest="dry_run", action="store_true",
                   help="only print the paths that would be deleted")
    q.add_argument("--max", "--max-freed", dest="max", type=int, metavar="BYTES",
                   help="stop after freeing BYTES")
    q.add_argument("--print-roots", action="store_true", help="print the roots and exit")
    q.set_defaults(func=_gc)

    q = add("delete", help="delete store paths that nothing live refers to")
    q.add_argument("paths", nargs="+", metavar="PATH")
    q.set_defaults(func=_delete)

    q = add("copy", help="copy closures to or from a binary cache (file://, http://, https://)")
    where = q.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", metavar="URL", help="upload to this binary cache")
    where.add_argument("--from", dest="from_", metavar="URL", help="download from this binary cache")
    q.add_argument("--sign", metavar="KEYFILE", action="append", default=[],
                   help="sign uploaded paths with this secret key file (--to)")
    q.add_argument("--no-check-sigs", action="store_true",
                   help="accept paths without a trusted signature (--from)")
    q.add_argument("paths", nargs="+", metavar="PATH")
    nix_settings.add_arguments(q)
    q.set_defaults(func=_copy)

    q = add("sign", help="sign store paths with a secret key")
    q.add_argument("-k", "--key-file", required=True, metavar="FILE", help="the secret key file")
    q.add_argument("-r", "--recursive", action="store_true", help="sign the closure")
    q.add_argument("paths", nargs="+", metavar="PATH")
    q.set_defaults(func=_sign)

    q = add("generate-key", help="make a binary cache signing key pair (as nix-store --generate-binary-cache-key)")
    q.add_argument("--key-name", required=True, metavar="NAME", help="key name, e.g. cache.example.org-1")
    q.add_argument("--secret-key-file", required=True, metavar="FILE")
    q.add_argument("--public-key-file", required=True, metavar="FILE")
    q.set_defaults(func=_generate_key)


def _store(args):
    from nixlite.store.local import LocalStore

    return LocalStore(args.store)


def _store_path_of(store, path: str) -> str:
    from nixlite.store.local import StoreError
    from nixlite.store.paths import to_store_path

    path = store.logical(os.path.abspath(path))  # also where it really is, as nixlite build prints
    sp = to_store_path(path, store.store_dir)
    if not store.is_valid(sp):
        raise StoreError(f"path '{sp}' is not valid")
    return sp


def _path_info(args) -> int:
    store = _store(args)
    paths = [_store_path_of(store, p) for p in args.paths]
    if args.recursive:
        paths = sorted(store.closure(paths))
    infos = [store.query_path_info(p) for p in paths]
    if args.json:
        out = [{
            "path": i.path, "narHash": i.nar_hash.sri(), "narSize": i.nar_size,
            "references": sorted(i.references), "registrationTime": i.registration_time,
            **({"deriver": i.deriver} if i.deriver else {}), **({"ca": i.ca} if i.ca else {}),
        } for i in infos]
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        for i in infos:
            sys.stdout.write(f"{i.path}\t{i.nar_hash.sri()}\t{i.nar_size}\t{' '.join(sorted(i.references))}\n")
    return 0


def _cat(args) -> int:
    from nixlite.store.local import StoreError

    store = _store(args)
    _store_path_of(store, args.path)
    real = store.physical(args.path)
    try:
        st = os.lstat(real)
    except (FileNotFoundError, NotADirectoryError):
        raise StoreError(f"path '{args.path}' does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"path '{args.path}' is not a regular file")
    with open(real, "rb") as f:
        while block := f.read(1 << 20):
            sys.stdout.buffer.write(block)
    return 0


def _dump(args) -> int:
    from nixlite.store.local import StoreError
    from nixlite.store.nar import dump

    store = _store(args)
    sp = _store_path_of(store, args.path)
    real = store.physical(sp)
    if not os.path.lexists(real):
        raise StoreError(f"path '{sp}' is registered as valid but its contents are missing "
                         "(see 'nixlite store verify')")
    dump(real, sys.stdout.buffer.write)
    sys.stdout.buffer.flush()
    return 0


def _add(args) -> int:
    from nixlite.store.local import StoreError

    store = _store(args)
    for p in args.paths:
        if not os.path.lexists(p):
            raise StoreError(f"getting status of '{os.path.abspath(p)}': No such file or directory")
        name = args.name or os.path.basename(os.path.abspath(p))
        path, _ = store.add_path(os.path.abspath(p), name, recursive=not args.flat)
        sys.stdout.write(path + "\n")
    return 0


def _requisites(args) -> int:
    store = _store(args)
    for p in sorted(store.closure([_store_path_of(store, p) for p in args.paths])):
        sys.stdout.write(p + "\n")
    return 0


def _show_derivation(args) -> int:
    store = _store(args)
    out = {}
    for p in args.paths:
        sp = _store_path_of(store, p)
        drv = store.read_derivation(sp)
        outputs = {}
        for name in sorted(drv.outputs):
            o = drv.outputs[name]
            entry = {"path": o.path}
            if o.hash_algo:
                entry["hashAlgo"] = o.hash_algo
                entry["hash"] = o.hash
            outputs[name] = entry
        out[sp] = {
            "outputs": outputs,
            "inputSrcs": sorted(drv.input_srcs),
            "inputDrvs": {k: sorted(v) for k, v in sorted(drv.input_drvs.items())},
            "system": drv.platform, "builder": drv.builder, "args": drv.args,
            "env": dict(sorted(drv.env.items())),
        }
    sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    return 0


def _verify(args) -> int:
    """Exit status as ``nix store verify``: 1 if contents are bad, 2 if paths are untrusted (or both)."""
    store = _store(args)
    problems = store.verify()
    for msg in problems:
        sys.stderr.write(f"error: {msg}\n")
    status = 1 if problems else 0
    if args.sigs:
        from nixlite.store.binary_cache import is_trusted, public_keys

        keys = public_keys(nix_settings.settings_from_args(args).trusted_public_keys)
        for p in store.all_valid_paths():
            if not is_trusted(store.query_path_info(p), keys, store.store_dir):
                sys.stderr.write(f"path '{p}' is untrusted\n")
                status |= 2
    return status


def _log(args) -> int:
    from nixlite.store.local import StoreError

    store = _store(args)
    for p in args.paths:
        sp = _store_path_of(store, p)
        log = store.read_log(sp)
        if log is None:
            raise StoreError(f"build log of '{sp}' is not available")
        sys.stdout.buffer.write(log)
    sys.stdout.buffer.flush()
    return 0


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MiB"


def _gc(args) -> int:
    store = _store(args)
    if args.print_roots:
        for link, path in sorted(store.find_roots(remove_stale=False).items()):
            sys.stdout.write(f"{link} -> {path}\n")
        return 0
    fd = store.gc_lock(exclusive=True)
    try:
        live = store.live_paths()
        dead = set(store.all_valid_paths()) - live

        def say(p: str) -> None:
            if args.dry_run:
                sys.stdout.write(p + "\n")
            else:
                sys.stderr.write(f"deleting '{p}'\n")

        deleted, freed = store.delete_paths(dead, args.max, args.dry_run, say)
    finally:
        os.close(fd)
    if not args.dry_run:
        sys.stdout.write(f"{len(deleted)} store paths deleted, {_mib(freed)} freed\n")
    return 0


def _delete(args) -> int:
    from nixlite.store.local import StoreError

    store = _store(args)
    fd = store.gc_lock(exclusive=True)
    try:
        paths = {_store_path_of(store, p) for p in args.paths}
        live = store.live_paths()
        for p in sorted(paths):
            if p in live or store.referrers(p) - paths:
                raise StoreError(f"Cannot delete path '{p}' since it is still alive. To find out "
                                 "why, use: nixlite store gc --print-roots")
        deleted, freed = store.delete_paths(paths)
    finally:
        os.close(fd)
    sys.stdout.write(f"{len(deleted)} store paths deleted, {_mib(freed)} freed\n")
    return 0


def _copy(args) -> int:
    from nixlite.store.binary_cache import BinaryCache, SecretKey, Substituter
    from nixlite.store.local import StoreError
    from nixlite.store.paths import parse_store_path

    store = _store(args)
    settings = nix_settings.settings_from_args(args)
    if args.to:
        keys = [SecretKey.load(f) for f in args.sign]
        paths = [_store_path_of(store, p) for p in args.paths]
        BinaryCache(args.to, settings, store.store_dir).copy_paths(store, paths, keys)
        return 0
    if args.sign:
        raise StoreError("'--sign' only applies to 'nixlite store copy --to'")
    if args.no_check_sigs:
        settings.set("require-sigs", "false")
    paths = [parse_store_path(p, store.store_dir) for p in args.paths]
    done = Substituter(settings, store.store_dir, urls=[args.from_]).substitute(paths, store)
    for p in paths:
        if p not in done:
            raise StoreError(f"path '{p}' is required, but there is no substituter that can build it")
    return 0


def _sign(args) -> int:
    from nixlite.store.binary_cache import SecretKey

    store = _store(args)
    key = SecretKey.load(args.key_file)
    paths = [_store_path_of(store, p) for p in args.paths]
    if args.recursive:
        paths = sorted(store.closure(paths))
    for p in paths:
        store.add_signatures(p, [key.sign(store.query_path_info(p))])
    return 0


def _generate_key(args) -> int:
    from nixlite.store.binary_cache import SecretKey
    from nixlite.store.local import StoreError

    secret = SecretKey.generate(args.key_name)
    for path, text, mode in ((args.secret_key_file, secret.to_string(), 0o600),
                             (args.public_key_file, secret.public().to_string(), 0o644)):
        temp = f"{path}.tmp-{os.getpid()}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(text)
            os.replace(temp, path)
        except OSError as exc:
            if os.path.lexists(temp):
                os.unlink(temp)
            raise StoreError(f"writing key file '{path}': {exc.strerror}") from None
    return 0

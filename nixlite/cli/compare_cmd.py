"""``nixlite compare``: how two images, or two derivations, differ.

``nixlite compare A B`` compares images; each side is an image location (a docker-archive,
an OCI layout, ``docker://REF``, a ``result`` link) or a recipe (``FILE.nix`` or a
directory with ``default.nix``, with ``-A ATTR``: given once it applies to every recipe,
given once per recipe it goes in order), built first as ``nixlite build`` builds it.
``--drv`` compares derivations instead (``.drv`` paths, or recipes instantiated), and
``--against-nix FILE`` compares what an installed ``nix-instantiate`` makes of FILE with
what nixlite makes of it (or of the one side given).

Exit status as diff's: 0 identical, 1 different, 2 on an error (``error: …``).  The
library is ``nixlite.compare``; this module parses arguments, calls it and prints.
"""

from __future__ import annotations

import argparse
import os
import sys

from nixlite.cli.evaluation import add_evaluation_arguments
from nixlite.cli.image_cmd import add_registry_arguments, add_platform_argument, add_tls_argument

ERROR_STATUS = 2
_CONTAINER_DIFF_TYPES = ("file", "layer", "metadata", "history", "size", "sizelayer", "apt",
                         "rpm", "pip", "node")
_DIFFOCI_FLAGS = ("timestamps", "history", "file-order", "file-mode-redundant-bits",
                  "file-timestamps", "image-name", "tar-format")


class _CompareParser(argparse.ArgumentParser):
    """Bad command lines are errors like any other here: status 2, since 1 means
    "different".  (Unknown flags reach the parser through parse_known_args.)"""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognised flag '{extras[0]}'")
        return namespace, extras

    def error(self, message: str):
        self.exit(ERROR_STATUS, f"error: {message}\nTry 'nixlite compare --help' for more "
                                "information.\n")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="show how two images (or two derivations) differ",
        description="Compare two images: config fields, the layer list (moved, split and merged "
        "layers recognised by content) and the files of each layer or of the merged file "
        "systems.  A side is an image location (docker-archive, OCI layout, docker://REF, a "
        "result link) or a recipe (FILE.nix -A ATTR, built first).  With --drv, explain why two "
        "derivations differ, as nix-diff does.  Exit status: 0 identical, 1 different, 2 error.")
    p.__class__ = _CompareParser
    p.usage = ("nixlite compare [OPTIONS] A B\n"
               "       nixlite compare --drv [OPTIONS] A B\n"
               "       nixlite compare --against-nix FILE [-A ATTR] [OPTIONS] [SIDE]")
    add_evaluation_arguments(p, repeatable_rev=True, prints_values=False)  # sides: FILE arguments
    for action in p._actions:  # the sides are images or recipes, never -E expressions
        if action.dest == "inputs":
            action.metavar, action.help = "SIDE", ("an image (docker-archive, OCI layout, "
                                                   "docker://REF, result link, -) or a recipe")
        elif action.dest == "expr":
            action.help = argparse.SUPPRESS
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON (nixlite/compare/schema.json)")
    p.add_argument("--drv", action="store_true",
                   help="compare derivations (.drv paths, or recipes instantiated)")
    p.add_argument("--against-nix", metavar="FILE",
                   help="compare nix-instantiate's derivations of FILE (-A ATTR) with nixlite's "
                        "(of FILE, or of the one side given)")
    p.add_argument("--color", "--colour", dest="color", choices=("auto", "always", "never"),
                   default="auto", help="colour the text (auto: on a terminal, unless NO_COLOR)")
    p.add_argument("--ignore", action="append", default=[], metavar="KEYS",
                   help="comma-separated differences to ignore: config fields (created, env, "
                        "cmd, labels, history, …), file attributes (mtime, mode, uid, …), "
                        "file-order, encoding, name, other; 'semantic' for diffoci's set")
    p.add_argument("--semantic", dest="ignore", action="append_const", const="semantic",
                   help="ignore what diffoci --semantic ignores (timestamps, history, file "
                        "order, tar format, image names)")
    for flag in _DIFFOCI_FLAGS:
        p.add_argument(f"--ignore-{flag}", dest="ignore", action="append_const", const=flag,
                       help=argparse.SUPPRESS)
    p.add_argument("--files", choices=("layers", "merged", "both", "none"), default="layers",
                   help="compare files per matched layer (default), over the merged file "
                        "systems (whiteouts applied), both, or not at all")
    p.add_argument("-t", "--type", dest="types", action="append", default=[],
                   choices=_CONTAINER_DIFF_TYPES, metavar="TYPE",
                   help="container-diff's analyses, to compare only these (repeatable): file "
                        "(merged file system), layer (files per layer), metadata (config), "
                        "history, size, sizelayer (uncompressed sizes)")
    p.add_argument("-f", "--filename", dest="filenames", action="append", default=[],
                   metavar="PATH", help="show how the contents of this file differ "
                   "(container-diff's --filename; repeatable)")
    p.add_argument("-j", "--max-jobs", default="1", metavar="N",
                   help="build up to N derivations of a recipe side at a time")
    p.add_argument("-L", "--print-build-logs", action="store_true",
                   help="print build logs of recipe sides")
    add_tls_argument(p, "--tls-verify")
    add_registry_arguments(p, log_flags=False)  # the evaluation arguments have them
    add_platform_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Compare; SIGTERM stops it as Ctrl-C does (spooled layers removed on the way out)."""
    from nixlite.cli.image_cmd import sigterm_as_interrupt
    from nixlite.errors import NixliteError

    try:
        with sigterm_as_interrupt():
            return _compare(args)
    except NixliteError as exc:
        _write_error(exc, args.show_trace)
        return ERROR_STATUS
    except OSError as exc:
        where = f"'{exc.filename}': " if isinstance(exc.filename, str) else ""
        sys.stdout.flush()
        sys.stderr.write(f"error: {where}{exc.strerror or exc}\n")
        return ERROR_STATUS


def _write_error(exc, show_trace: bool) -> None:
    from nixlite.build.realise import BuildFailed
    from nixlite.cli.evaluation import write_error

    if isinstance(exc, BuildFailed):
        sys.stdout.flush()
        sys.stderr.write(exc.render() + "\n")
    else:
        write_error(exc, show_trace)


def _compare(args) -> int:
    from nixlite.errors import NixliteError

    if args.expr is not None:
        raise NixliteError("'nixlite compare' takes files, not -E expressions")
    _revision_sides(args)
    if args.against_nix is None and len(args.inputs) != 2:
        raise NixliteError(f"'nixlite compare' needs two sides (A B), got {len(args.inputs)}")
    style = _style(args.color)
    if args.against_nix is not None or args.drv:
        return _compare_derivations(args, style)
    return _compare_image_sides(args, style)


def _style(choice: str):
    from nixlite.compare.render import Style

    if choice == "auto":  # as Nix, git and ls: a terminal that is not dumb, and no NO_COLOR
        return Style(sys.stdout.isatty() and not os.environ.get("NO_COLOR")
                     and os.environ.get("TERM") != "dumb")
    return Style(choice == "always")


def _finish(document: dict, text: str, identical: bool, as_json: bool) -> int:
    """Print the report.  File names that are not UTF-8 (held as surrogate escapes) come
    out as their bytes in the text, as ``ls`` and ``diff`` show them, and as ``\\udcXX``
    escapes in the JSON, which stays valid UTF-8 (Python's ``json`` and ``os.fsencode``
    give the bytes back)."""
    import json
    import re

    from nixlite.cli.output import write_bytes

    if as_json:
        text = re.sub("[\udc80-\udcff]", lambda m: f"\\u{ord(m.group()):04x}",
                      json.dumps(document, indent=2, ensure_ascii=False)) + "\n"
    write_bytes(sys.stdout, text)
    return 0 if identical else 1


# --- sides --------------------------------------------------------------------------------------
def is_recipe(side: str) -> bool:
    """A ``.nix`` file, or a directory with ``default.nix`` that is not an OCI layout."""
    if side.endswith(".nix"):
        return True
    return os.path.isdir(side) and os.path.isfile(os.path.join(side, "default.nix")) and \
        not os.path.isfile(os.path.join(side, "oci-layout"))


def _attrs_for(args, recipes: list[int]) -> dict[int, list[str]]:
    """Which ``-A`` paths each recipe side gets: all of them when given once (or not at
    all), one each, in order, when given once per recipe."""
    from nixlite.errors import NixliteError

    if args.attr and not recipes:
        raise NixliteError("-A selects from a recipe, but no side is a recipe (a .nix file or "
                           "a directory with default.nix)")
    if len(args.attr) <= 1:
        return {i: list(args.attr) for i in recipes}
    if len(args.attr) != len(recipes):
        raise NixliteError(f"-A is given {len(args.attr)} times for {len(recipes)} recipe "
                           "side(s): give it once (for every recipe) or once per recipe")
    return {i: [attr] for i, attr in zip(recipes, args.attr)}


def _revision_sides(args) -> None:
    """``--rev`` once per side, in order (A, then B); a side without one is the working
    tree.  With one recipe and ``--rev``, both sides are that recipe, so ``--rev main
    --rev HEAD F`` compares two revisions and ``--rev main F`` compares main with the
    working tree."""
    from nixlite.errors import NixliteError

    revs = args.rev or []
    if not revs:
        return
    if len(revs) > 2:
        raise NixliteError("--rev is given more than twice: once per side at most")
    if args.against_nix is not None:
        raise NixliteError("--rev does not combine with --against-nix, which evaluates the "
                           "working tree with nix-instantiate")
    if len(args.inputs) <= 1:
        args.inputs = [args.inputs[0] if args.inputs else "default.nix"] * 2
    for side, rev in zip(args.inputs, revs):
        if not is_recipe(side):
            raise NixliteError(f"--rev {rev} applies to a recipe, but '{side}' is not a .nix "
                               "file or a directory with default.nix")


def side_label(args, side: int) -> str:
    """How a side is named in reports: its location, with ``@REV`` when read at a revision."""
    revs = args.rev or []
    return args.inputs[side] + (f"@{revs[side]}" if side < len(revs) else "")


def recipe_arguments(args, side: int, path: str, attrs: list[str]) -> argparse.Namespace:
    """The evaluation (and build) arguments of the recipe on side ``side`` (0 for A, 1
    for B): the command line's, with this side's file, attribute paths and revision.
    Everything that evaluates a side takes its set-up from here."""
    revs = args.rev or []
    return argparse.Namespace(**{
        **vars(args), "inputs": [path], "attr": attrs, "expr": None, "cores": 0,
        "rev": revs[side] if side < len(revs) else None,
        "keep_failed": False, "check": False, "dry_run": False, "no_out_link": True})


def _recipe_sides(args) -> dict[int, argparse.Namespace]:
    recipes = [i for i, side in enumerate(args.inputs) if is_recipe(side)]
    attrs = _attrs_for(args, recipes)
    return {i: recipe_arguments(args, i, args.inputs[i], attrs[i]) for i in recipes}


def _evaluated(ns, build: bool) -> list[tuple[str, str]]:
    """``[(drv path, physical out path)]`` of the recipe's derivations; built if asked."""
    from nixlite.cli.build_cmd import evaluate_targets
    from nixlite.cli.evaluation import evaluation_io
    from nixlite.cli.realising import make_realiser
    from nixlite.eval.deep import run_deep

    io = evaluation_io(ns)
    try:
        store = io.store.local
        realiser = make_realiser(store, ns)
        try:
            wanted = run_deep(evaluate_targets, ns, io, realiser)
        finally:
            store.flush()
        if build:
            realiser.realise([(drv_path, {output}) for drv_path, output, _ in wanted])
        realiser.close()
        return [(drv_path, store.physical(out)) for drv_path, _, out in wanted]
    finally:
        io.close()


def _one(found: list, side: str, what: str):
    from nixlite.errors import NixliteError

    if len(found) != 1:
        raise NixliteError(f"'{side}' gives {len(found)} {what}s; a side of 'nixlite compare' "
                           "must be one (select it with -A)")
    return found[0]


# --- images -------------------------------------------------------------------------------------
def _compare_image_sides(args, style) -> int:
    import contextlib
    import tempfile

    from nixlite.cli.image_cmd import transfer_options
    from nixlite.image.files import clear_stale_temporaries
    from nixlite.compare.image import compare_images, open_side, parse_ignore
    from nixlite.compare.render import image_json, image_text

    clear_stale_temporaries(tempfile.gettempdir())  # spools of killed runs
    ignore = parse_ignore(args.ignore)
    files, sizes = args.files, False
    if args.types:
        files, sizes, ignore = _container_diff_types(args.types, ignore)
    options = transfer_options(args)
    recipes = _recipe_sides(args)
    locations = list(args.inputs)
    for i, ns in recipes.items():
        locations[i] = _one(_evaluated(ns, build=True), args.inputs[i], "derivation")[1]
    with contextlib.ExitStack() as stack:
        a, b = (stack.enter_context(open_side(loc, options)) for loc in locations)
        a.label, b.label = side_label(args, 0), side_label(args, 1)
        diff = compare_images(a, b, ignore=ignore, files=files, sizes=sizes,
                              contents=tuple(args.filenames))
        return _finish(image_json(diff), image_text(diff, style), diff.identical, args.json)


def _container_diff_types(types: list[str], ignore: frozenset[str]):
    """(file view, sizes wanted, keys to ignore) for container-diff's ``--type`` list:
    only the analyses named are compared."""
    from nixlite.compare.image import CONFIG_KEYS
    from nixlite.errors import NixliteError

    packages = sorted({"apt", "rpm", "pip", "node"} & set(types))
    if packages:
        raise NixliteError(f"container-diff's package analysers ({', '.join(packages)}) are not "
                           "supported: compare the files that hold the package databases")
    views = {"file": "merged", "layer": "layers"}
    wanted = {views[t] for t in types if t in views}
    files = "both" if len(wanted) == 2 else wanted.pop() if wanted else "none"
    unwanted = set()
    if "metadata" not in types:
        unwanted |= set(CONFIG_KEYS) - {"history"} | {"name", "encoding"}
    if "history" not in types:
        unwanted.add("history")
    return files, bool({"size", "sizelayer"} & set(types)), ignore | unwanted


# --- derivations --------------------------------------------------------------------------------
def _compare_derivations(args, style) -> int:
    from nixlite.compare.drv import compare_drvs, file_loader, source_reader
    from nixlite.compare.render import drv_json, drv_text

    in_store = _nixlite_store_file(args)
    ours, ours_sources = file_loader(in_store), source_reader(in_store)
    if args.against_nix is not None:
        theirs_path, ours_path = _against_nix(args)
        labels = ("nix-instantiate", "nixlite")
        root = compare_drvs(theirs_path, ours_path, file_loader(lambda path: None), ours,
                            source_reader(lambda path: None), ours_sources)
        paths = (theirs_path, ours_path)
    else:
        recipes = _recipe_sides(args)
        paths = tuple(_one(_evaluated(recipes[i], build=False), side, "derivation")[0]
                      if i in recipes else _deriver(args, side, _drv_path(side))
                      for i, side in enumerate(args.inputs))
        labels = ("a", "b")
        root = compare_drvs(*paths, ours, ours, ours_sources, ours_sources)
    return _finish(drv_json(root, *paths), drv_text(root, *paths, style, labels), root is None,
                   args.json)


def _drv_path(side: str) -> str:
    """A ``.drv`` side as given: a store path (or a link to one, as ``--add-root`` makes)
    is taken by its store path, any other file by its own; ``DRV!OUTPUT``, as
    ``nixlite instantiate`` prints an output other than ``out``, is ``DRV``."""
    from nixlite.store.paths import store_dir

    if os.path.islink(side):
        target = os.path.realpath(side)
        if "/store/" in target:
            return f"{store_dir()}/{os.path.basename(target)}"
    if side.startswith(store_dir() + "/"):
        return side.partition("!")[0] if ".drv!" in side else side
    return os.path.abspath(side)


def _deriver(args, side: str, path: str) -> str:
    """The ``.drv`` of a side: ``path`` itself, or, for an output nixlite built (a
    ``result`` link), the derivation that built it."""
    from nixlite.errors import NixliteError
    from nixlite.store.local import LocalStore
    from nixlite.store.paths import store_dir

    if path.endswith(".drv") or not path.startswith(store_dir() + "/"):
        return path
    info = LocalStore(args.store).query_path_info(path)
    if info is None or not info.deriver:
        shown = f"'{side}'" if side == path else f"'{side}' ('{path}')"
        raise NixliteError(f"{shown} is not a derivation, and nixlite's store knows no "
                           "derivation that built it: give a .drv or a recipe with -A")
    return info.deriver


def _nixlite_store_file(args):
    """Where a store path's file is in nixlite's store (None if it is not there)."""
    from nixlite.store.local import LocalStore

    store: list = []

    def physical(path: str) -> str | None:
        if not store:
            store.append(LocalStore(args.store))
        real = store[0].physical(path)
        return real if os.path.exists(real) else None

    return physical


def _against_nix(args) -> tuple[str, str]:
    """(Nix's drvPath, nixlite's drvPath) of the same recipe (or of FILE and the one side
    given).  Nix is pointed at the ``<nixpkgs>`` nixlite uses when no search path names
    one, so both evaluate the same package set."""
    from nixlite.compare.drv import nix_instantiate
    from nixlite.errors import NixliteError
    from nixlite.eval.state import BUNDLED_NIXPKGS

    if len(args.inputs) > 1:
        raise NixliteError("--against-nix FILE compares with one side at most (default: FILE)")
    ours_side = args.inputs[0] if args.inputs else args.against_nix
    if len(args.attr) > 2:
        raise NixliteError("-A is given more than twice: once (for both), or once for Nix "
                           "and once for nixlite")
    theirs_attrs, ours_attrs = (args.attr[:1], args.attr[1:]) if len(args.attr) == 2 \
        else (args.attr, args.attr)
    extra = [*(f for name, expr in args.arg for f in ("--arg", name, expr)),
             *(f for name, value in args.argstr for f in ("--argstr", name, value)),
             *(f for entry in args.include for f in ("-I", entry))]
    searched = [entry.partition("=")[0] for entry in
                [*args.include, *os.environ.get("NIX_PATH", "").split(":")] if "=" in entry]
    if "nixpkgs" not in searched:
        extra += ["-I", f"nixpkgs={BUNDLED_NIXPKGS}"]
    theirs = nix_instantiate(args.against_nix, theirs_attrs, extra)
    ns = recipe_arguments(args, 1, ours_side, ours_attrs)
    return theirs, _one(_evaluated(ns, build=False), ours_side, "derivation")[0]

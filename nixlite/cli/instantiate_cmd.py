"""``nixlite instantiate``: what ``nix-instantiate`` does without ``--eval``.

Evaluates FILE (default ``./default.nix``), ``-E EXPR`` or ``-`` (stdin),
selects ``-A`` paths, auto-calls functions with ``--arg``/``--argstr``,
collects derivations as Nix's ``getDerivations`` does (a derivation, or a set
or list of them; nested sets only with ``recurseForDerivations = true``),
writes every ``.drv`` of their closure into the store and prints each
drvPath, as ``drvPath!output`` when the selected output is not ``out``.
"""

from __future__ import annotations

import sys

from nixlite.cli.evaluation import (
    add_evaluation_arguments,
    auto_arguments,
    evaluation_io,
    find_files,
    make_state,
    roots,
    write_error,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "instantiate",
        help="write the .drv closure of derivations into the store and print their paths",
        description="Instantiate the derivations that FILE (default ./default.nix), -E EXPR or - "
        "(stdin) evaluates to, as `nix-instantiate` does, and print their store derivation paths.",
    )
    add_evaluation_arguments(p)
    p.add_argument("--add-root", metavar="PATH",
                   help="make PATH a symlink to the .drv file (PATH-2, PATH-3… for more) and print it")
    p.add_argument("--eval", "--eval-only", action="store_true",
                   help="evaluate and print the result instead (what `nixlite eval` does)")
    p.set_defaults(func=run)


def run(args) -> int:
    from nixlite.errors import NixliteError
    from nixlite.eval.deep import run_deep

    if args.eval:
        from nixlite.cli import eval_cmd

        return eval_cmd.run(args)

    io = evaluation_io(args)
    try:
        try:
            lines = run_deep(_instantiate, args, io)
        finally:
            io.close()  # registers the .drv files written (one group commit)
    except NixliteError as exc:
        write_error(exc, args.show_trace)
        return 1
    return 0 if lines is not None else 1


def _instantiate(args, io):
    state = make_state(args, io, read_write=True)
    if args.find_file:
        find_files(state, args)
        return []
    from nixlite.cli.realising import enable_import_from_derivation

    enable_import_from_derivation(state, args)
    printed = []
    for drv_path, output in selected_derivations(state, args):
        shown = drv_path
        if args.add_root:
            shown = _add_root(io, args.add_root, len(printed) + 1, drv_path)
        line = shown if output == "out" else f"{shown}!{output}"
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        printed.append(line)
    return printed


def selected_derivations(state, args):
    """``(drvPath, outputName)`` of each derivation the command line selects, as it is
    found: every root (files, ``-E``, stdin), every ``-A`` path in it, auto-called with
    ``--arg``/``--argstr`` (what ``instantiate``, ``build`` and ``plan`` act on)."""
    from nixlite.eval.api import auto_call, find_along_attr_path

    auto_args = auto_arguments(state, args)
    for root in roots(state, args):
        v = root()
        for attr_path in args.attr or [""]:
            selected = auto_call(find_along_attr_path(v, attr_path, auto_args), auto_args)
            yield from derivation_lines(selected, auto_args)


def _add_root(io, root: str, n: int, drv_path: str) -> str:
    """Nix's --add-root naming (``root``, ``root-2``…), as an atomically replaced symlink
    to where the .drv file really is, registered as a GC root."""
    return io.store.local.add_perm_root(root + ("" if n == 1 else f"-{n}"), drv_path)


def derivation_lines(v, auto_args) -> list[tuple[str, str]]:
    """``(drvPath, outputName)`` of every derivation ``getDerivations`` finds in ``v``."""
    from nixlite.eval.values import EvalError, force

    out: list[tuple[str, str]] = []
    for drv in get_derivations(v, auto_args):
        drv_path = str(force(drv["drvPath"])) if "drvPath" in drv else None
        if drv_path is None:
            raise EvalError("derivation lacks a 'drvPath' attribute")
        output = str(force(drv["outputName"])) if "outputName" in drv else ""
        if output == "":
            raise EvalError(f"derivation '{drv_path}' lacks an 'outputName' attribute")
        out.append((drv_path, output))
    return out


def get_derivations(v, auto_args) -> list:
    """Nix's ``getDerivations``: derivations in ``v``, in Nix's order, each set once."""
    from nixlite.eval.api import auto_call
    from nixlite.eval.values import Attrs, EvalError, force, force_bool, is_derivation

    found: list = []
    seen: set[int] = set()

    def take(x) -> bool:
        """Add ``x`` if it is a derivation; True when the caller should look inside."""
        x = force(x)
        if not is_derivation(x):
            return True
        if id(x) not in seen:
            seen.add(id(x))
            found.append(x)
        return False

    def walk(x) -> None:
        x = force(auto_call(x, auto_args))
        if not take(x):
            return
        if type(x) is Attrs:
            for name in sorted(x):
                item = force(x[name])
                if not take(item):
                    continue
                if type(item) is Attrs and "recurseForDerivations" in item \
                        and force_bool(item["recurseForDerivations"]):
                    walk(item)
        elif type(x) is list:
            for item in x:
                if take(item):
                    walk(item)
        else:
            raise EvalError("expression does not evaluate to a derivation (or a set or list of those)")

    walk(v)
    return found



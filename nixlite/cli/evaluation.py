"""What ``nixlite eval`` and ``nixlite instantiate`` share, as ``nix-instantiate``'s
modes share it: the input and argument flags, the roots to evaluate, the
automatic arguments, and how errors are written."""

from __future__ import annotations

import os
import sys

from nixlite.cli.output import write_bytes

# What -E appends when it is given without a value: a flag, as in Nix, not the
# expression '' (which is a syntax error).
_FLAG_ONLY = object()


def add_evaluation_arguments(p) -> None:
    """FILE…/-E/-, -A, --arg, --argstr, -I, --show-trace, --read-write-mode."""
    p.add_argument("inputs", nargs="*", metavar="FILE", help="files (or expressions with -E); - for stdin")
    # -E is a flag in Nix (the arguments are expressions), but it may be repeated
    # between them (`-E 1 -E 2`): collect an optional value each time it appears.
    p.add_argument("-E", "--expr", nargs="?", action="append", const=_FLAG_ONLY, default=None,
                   metavar="EXPR", help="treat the arguments as expressions")
    p.add_argument("-A", "--attr", action="append", default=[], metavar="ATTRPATH",
                   help="select an attribute (repeatable)")
    p.add_argument("--arg", nargs=2, action="append", default=[], metavar=("NAME", "EXPR"),
                   help="pass a Nix expression to the top-level function")
    p.add_argument("--argstr", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="pass a string to the top-level function")
    p.add_argument("-I", "--include", dest="include", action="append", default=[], metavar="PATH",
                   help="add a search path entry (PREFIX=PATH or PATH)")
    p.add_argument("--show-trace", action="store_true", help="show the evaluation trace on errors")
    p.add_argument("--read-write-mode", action="store_true", help="accepted for compatibility")


def auto_arguments(state, args):
    """The ``--arg``/``--argstr`` set a top-level function is called with.

    As in Nix, every ``--arg`` is parsed at once (a syntax error fails the command
    even when the argument is never used) and evaluated only when used."""
    from nixlite.eval.values import Attrs, Thunk
    from nixlite.syntax import parse

    auto_args = Attrs()
    for name, text in args.arg:
        code = state.compile_expr(parse(text, "«string»", os.getcwd()))
        auto_args[name] = Thunk(code, None)
    for name, value in args.argstr:
        auto_args[name] = value
    return auto_args


def roots(state, args) -> list:
    """One callable per input (expression, file, or ``-``), each evaluating it."""
    if args.expr is not None:
        texts = [t for t in args.expr if t is not _FLAG_ONLY] + list(args.inputs)
        return [lambda t=text: state.eval_string(t, "«string»", os.getcwd()) for text in texts]
    out = []
    for f in args.inputs or ["./default.nix"]:
        if f == "-":
            text = sys.stdin.read()
            out.append(lambda t=text: state.eval_string(t, "«stdin»", os.getcwd()))
        else:
            out.append(lambda p=os.path.abspath(f): state.eval_file(p))
    return out


def write_error(exc, show_trace: bool) -> None:
    """An error as Nix lays it out (evaluation errors with their trace frames)."""
    from nixlite.eval.values import EvalError, render_pos

    sys.stdout.flush()
    if isinstance(exc, EvalError):
        text = exc.render(show_trace=show_trace)
    else:  # parse and resolve errors: same layout as Nix's
        text = f"error: {exc.message}"
        if exc.pos is not None:
            text += "\n\n" + render_pos(exc.pos)
    write_bytes(sys.stderr, text + "\n")

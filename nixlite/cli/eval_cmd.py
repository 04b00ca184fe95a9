"""``nixlite eval``: what ``nix-instantiate --eval`` does, with the same flags and output."""

from __future__ import annotations

import argparse
import os
import sys


# What -E appends when it is given without a value: a flag, as in Nix, not the
# expression '' (which is a syntax error).
_FLAG_ONLY = object()


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a Nix expression and print it as nix-instantiate --eval does",
        description="Evaluate FILE (default ./default.nix), -E EXPR or - (stdin) and print "
        "the value exactly as `nix-instantiate --eval` prints it.",
    )
    p.add_argument("inputs", nargs="*", metavar="FILE", help="files (or expressions with -E); - for stdin")
    # -E is a flag in Nix (the arguments are expressions), but it may be repeated
    # between them (`-E 1 -E 2`): collect an optional value each time it appears.
    p.add_argument("-E", "--expr", nargs="?", action="append", const=_FLAG_ONLY, default=None,
                   metavar="EXPR", help="treat the arguments as expressions")
    p.add_argument("--strict", action="store_true", help="evaluate the result deeply")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--xml", action="store_true", help="print the result as XML")
    p.add_argument("--no-location", action="store_true", help="omit source positions in --xml output")
    p.add_argument("-A", "--attr", action="append", default=[], metavar="ATTRPATH",
                   help="select an attribute (repeatable)")
    p.add_argument("--arg", nargs=2, action="append", default=[], metavar=("NAME", "EXPR"),
                   help="pass a Nix expression to the top-level function")
    p.add_argument("--argstr", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="pass a string to the top-level function")
    p.add_argument("-I", "--include", dest="include", action="append", default=[], metavar="PATH",
                   help="add a search path entry (PREFIX=PATH or PATH)")
    p.add_argument("--show-trace", action="store_true", help="show the evaluation trace on errors")
    p.add_argument("--trace-verbose", action="store_true", help="print builtins.traceVerbose messages")
    p.add_argument("--read-write-mode", action="store_true", help="accepted for compatibility")
    p.add_argument("--eval", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args) -> int:
    from nixlite.errors import NixliteError
    from nixlite.eval.deep import run_deep
    from nixlite.eval.values import EvalError, render_pos

    try:
        out = run_deep(_evaluate, args)
    except EvalError as exc:
        partial = getattr(exc, "partial_output", None)
        if partial:
            _write(sys.stdout, partial)
        sys.stdout.flush()
        _write(sys.stderr, exc.render(show_trace=args.show_trace) + "\n")
        return 1
    except NixliteError as exc:  # parse and resolve errors: same layout as Nix's
        sys.stdout.flush()
        text = f"error: {exc.message}"
        if exc.pos is not None:
            text += "\n\n" + render_pos(exc.pos)
        _write(sys.stderr, text + "\n")
        return 1
    return out


def _evaluate(args) -> int:
    from nixlite.eval.api import auto_call, find_along_attr_path, print_result
    from nixlite.eval.state import EvalState
    from nixlite.eval.values import Attrs, Thunk, force

    state = EvalState(search_path=args.include, show_trace=args.show_trace,
                      read_write=args.read_write_mode)
    state.trace_verbose = args.trace_verbose
    auto_args = Attrs()
    for name, text in args.arg:
        auto_args[name] = Thunk(_eval_arg, (state, text))
    for name, value in args.argstr:
        auto_args[name] = value

    if args.expr is not None:
        texts = [t for t in args.expr if t is not _FLAG_ONLY] + list(args.inputs)
        roots = [lambda t=text: state.eval_string(t, "«string»", os.getcwd()) for text in texts]
    else:
        files = args.inputs or ["./default.nix"]
        roots = []
        for f in files:
            if f == "-":
                text = sys.stdin.read()
                roots.append(lambda t=text: state.eval_string(t, "«stdin»", os.getcwd()))
            else:
                path = os.path.abspath(f)
                roots.append(lambda p=path: state.eval_file(p))

    out = sys.stdout
    for root in roots:
        v = root()
        for attr_path in args.attr or [""]:
            selected = find_along_attr_path(v, attr_path, auto_args)
            selected = force(selected)
            if auto_args:
                selected = auto_call(selected, auto_args)
            text = print_result(selected, strict=args.strict, json=args.json, xml=args.xml,
                                location=not args.no_location)
            _write(out, text)
    return 0


def _write(stream, text: str) -> None:
    """Nix strings are bytes: invalid UTF-8 (kept as surrogate escapes) goes out as is."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        buffer.write(text.encode("utf-8", "surrogateescape"))
        buffer.flush()
    else:
        stream.write(text)
        stream.flush()


def _eval_arg(pair):
    state, text = pair
    return state.eval_string(text, "«string»", os.getcwd())

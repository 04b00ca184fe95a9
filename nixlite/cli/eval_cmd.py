"""``nixlite eval``: what ``nix-instantiate --eval`` does, with the same flags and output."""

from __future__ import annotations

import argparse
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
from nixlite.cli.output import write_bytes


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a Nix expression and print it as nix-instantiate --eval does",
        description="Evaluate FILE (default ./default.nix), -E EXPR or - (stdin) and print "
        "the value exactly as `nix-instantiate --eval` prints it.",
    )
    add_evaluation_arguments(p)
    p.add_argument("--eval", "--eval-only", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args) -> int:
    from nixlite.errors import NixliteError
    from nixlite.eval.deep import run_deep
    from nixlite.eval.values import EvalError

    io = evaluation_io(args)
    try:
        try:
            return run_deep(_evaluate, args, io)
        finally:
            io.close()
    except NixliteError as exc:
        partial = getattr(exc, "partial_output", None) if isinstance(exc, EvalError) else None
        if partial:
            write_bytes(sys.stdout, partial)
        write_error(exc, args.show_trace)
        return 1


def _evaluate(args, io) -> int:
    from nixlite.eval.api import auto_call, find_along_attr_path, print_result
    from nixlite.eval.values import force

    state = make_state(args, io, read_write=args.read_write_mode)
    if args.find_file:
        return find_files(state, args)
    if args.read_write_mode:  # as Nix, which builds imported outputs only then
        from nixlite.cli.realising import enable_import_from_derivation

        enable_import_from_derivation(state, args)
    auto_args = auto_arguments(state, args)
    for root in roots(state, args):
        v = root()
        for attr_path in args.attr or [""]:
            selected = find_along_attr_path(v, attr_path, auto_args)
            selected = force(selected)
            if auto_args:
                selected = auto_call(selected, auto_args)
            text = print_result(state, selected, strict=args.strict, json=args.json, xml=args.xml,
                                location=not args.no_location)
            write_bytes(sys.stdout, text)
    return 0

"""``nixlite parse FILE|-`` / ``-E EXPR``: print what ``nix-instantiate --parse`` prints."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "parse",
        help="parse a Nix file and print it as nix-instantiate --parse does",
        description="Parse a Nix expression and print its normalised form, exactly as "
        "today's `nix-instantiate --parse` prints it. Exits 1 with a Nix-style error on "
        "bad input.",
    )
    p.add_argument("file", nargs="?", help="the file to parse, or - for standard input")
    p.add_argument("-E", "--expr", dest="expr", help="parse this expression instead of a file")
    p.set_defaults(func=run)


def run(args) -> int:
    from nixlite.errors import NixliteError
    from nixlite.resolve import parse_file, resolve
    from nixlite.syntax.parser import parse
    from nixlite.syntax.printer import show

    if args.expr is not None:
        if args.file is not None:
            raise NixliteError("give either a file or -E EXPR, not both")
        tree = resolve(parse(args.expr, "«string»"))
    elif args.file in (None, "-"):
        data = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
        tree = resolve(parse(data, "«stdin»"))
    else:
        tree = parse_file(args.file)
    # bytes that are not UTF-8 were read as surrogates: write them back unchanged
    sys.stdout.flush()
    sys.stdout.buffer.write((show(tree) + "\n").encode("utf-8", "surrogateescape"))
    sys.stdout.buffer.flush()
    return 0

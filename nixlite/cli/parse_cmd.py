"""``nixlite parse FILE|-`` / ``-E EXPR``: print what ``nix-instantiate --parse`` prints."""

from __future__ import annotations

import sys

from nixlite.cli.output import write_bytes


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "parse",
        help="parse a Nix file and print it as nix-instantiate --parse does",
        description="Parse a Nix expression and print its normalised form, exactly as "
        "today's `nix-instantiate --parse` prints it. Exits 1 with a Nix-style error on "
        "bad input.",
    )
    p.add_argument("inputs", nargs="*", metavar="FILE",
                   help="files to parse (default ./default.nix; - for standard input), "
                   "or expressions with -E")
    p.add_argument("-E", "--expr", action="store_true", help="treat the arguments as expressions")
    p.set_defaults(func=run)


def run(args) -> int:
    from nixlite.resolve import parse_file, resolve
    from nixlite.syntax.parser import parse
    from nixlite.syntax.printer import show

    trees = []
    if args.expr:
        for text in args.inputs:
            trees.append(resolve(parse(text, "«string»")))
    else:
        for f in args.inputs or ["./default.nix"]:
            if f == "-":
                data = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
                trees.append(resolve(parse(data, "«stdin»")))
            else:
                trees.append(parse_file(f))
    write_bytes(sys.stdout, "".join(show(t) + "\n" for t in trees))
    return 0


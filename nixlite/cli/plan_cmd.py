"""``nixlite plan``: the build plan of a recipe, and what ``nixlite build --plan`` builds.

Evaluates FILE (default ``./default.nix``), ``-E EXPR`` or ``-`` with the flags
``nixlite instantiate`` takes and writes the plan of the derivations selected
(``nixlite.plan``): TOML by default, JSON with ``--format json`` (or ``--json``, or
``-o`` a ``.json`` file), to standard output or to ``-o FILE`` (sources that are not
small text files go to ``FILE``'s ``.sources`` directory beside it, as NAR files).
"""

from __future__ import annotations

import os
import sys

from nixlite.cli.evaluation import (
    add_evaluation_arguments,
    evaluation_io,
    make_state,
    write_error,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "plan", help="write the build plan of derivations (TOML or JSON), which build --plan builds",
        description="Write the build plan of the derivations that FILE (default ./default.nix), "
        "-E EXPR or - (stdin) evaluates to: every derivation of their closure with its kind, "
        "inputs, outputs and fields, and the sources they use. `nixlite build --plan FILE` "
        "builds it without evaluating Nix.")
    add_evaluation_arguments(p, prints_values=False)
    p.add_argument("--format", choices=("toml", "json"),
                   help="the plan's format (default: json for -o FILE.json, else toml)")
    p.add_argument("--json", dest="format", action="store_const", const="json",
                   help="--format json")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the plan to FILE (and sources that are not small text files "
                   "into FILE's .sources directory) instead of standard output")
    p.set_defaults(func=run)


def run(args) -> int:
    from nixlite.errors import NixliteError
    from nixlite.eval.deep import run_deep

    io = evaluation_io(args)
    try:
        try:
            targets = run_deep(_targets, args, io)
            data = _write(args, io.store.local, targets)
        finally:
            io.close()
    except NixliteError as exc:
        write_error(exc, args.show_trace)
        return 1
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def _targets(args, io) -> list[tuple[str, str]]:
    """``(drv path, output)`` of the derivations the command line selects."""
    from nixlite.cli.instantiate_cmd import selected_derivations
    from nixlite.cli.realising import enable_import_from_derivation

    state = make_state(args, io, read_write=True)
    enable_import_from_derivation(state, args)
    return list(selected_derivations(state, args))


def _write(args, store, targets) -> bytes:
    """The plan's bytes; with ``-o``, also written there (and its NAR files beside it)."""
    from nixlite.plan.document import dump
    from nixlite.plan.write import document, plan_of

    plan = plan_of(store, targets)
    fmt = args.format or ("json" if (args.output or "").endswith(".json") else "toml")
    if args.output is None:
        return dump(document(plan, store, None, ""), fmt)
    from nixlite.errors import NixliteError

    target = os.path.abspath(args.output)
    nar_dir_name = os.path.splitext(os.path.basename(target))[0] + ".sources"
    temp = f"{target}.tmp-{os.getpid()}"
    try:
        data = dump(document(plan, store, os.path.join(os.path.dirname(target), nar_dir_name),
                             nar_dir_name), fmt)
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, target)
    except OSError as exc:
        raise NixliteError(f"cannot write the plan '{args.output}': {exc.strerror}") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return data


# ------------------------------------------------------------ build --plan


def planned_targets(args, store) -> list[tuple[str, str, str]]:
    """``nixlite build --plan``: load the plan into ``store`` (nothing evaluated) and
    return ``[(drv path, output, out path)]`` of its targets, or of the ``-A`` nodes."""
    from nixlite.errors import NixliteError
    from nixlite.plan.document import DrvNode, parse
    from nixlite.plan.load import load

    if args.inputs or args.expr is not None or args.arg or args.argstr or args.rev:
        raise NixliteError("--plan builds a plan without evaluating Nix: it takes no FILE, "
                           "-E, --arg, --argstr or --rev")
    try:
        if args.plan == "-":  # its .sources directory is then looked for in the cwd
            data = sys.stdin.buffer.read()
        else:
            with open(args.plan, "rb") as f:
                data = f.read()
    except OSError as exc:
        raise NixliteError(f"cannot read the plan '{args.plan}': {exc.strerror}") from None
    plan = parse(data, args.plan, os.path.dirname(os.path.abspath(args.plan)))
    wanted = plan.targets
    if args.attr:
        wanted = []
        for node_id in args.attr:
            node = plan.nodes.get(node_id)
            if not isinstance(node, DrvNode):
                raise NixliteError(f"plan '{args.plan}' has no derivation node '{node_id}'")
            wanted.append((node_id, _default_output(node)))
    loaded = load(plan, store)
    for node_id, recorded, now in loaded.changed:
        sys.stderr.write(f"plan: node '{node_id}' was edited: '{recorded}' is now '{now}'\n")
    return [(loaded.drv_paths[node_id], output, loaded.output_paths[node_id][output])
            for node_id, output in wanted]


def _default_output(node) -> str:
    """The output ``-A`` selects, as Nix's ``outputName``: the first the derivation lists."""
    listed = node.env.get("outputs", "").split()
    return listed[0] if listed and listed[0] in node.outputs else sorted(node.outputs)[0]

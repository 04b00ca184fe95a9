"""``nixlite build``: what ``nix-build`` does.

Evaluates FILE (default ``./default.nix``), ``-E EXPR`` or ``-`` with the
flags ``nixlite instantiate`` takes, builds every missing output of the
derivations found (dependencies first, ``-j`` at a time), makes the
``result``, ``result-dev``, ``result-2``… links (GC roots) and prints the
output paths where they really are (nixlite's store lives under the user's data directory,
so ``/nix/store/…`` names nothing on disk; like nix-build's, the printed path can be run or
read: ``$(nixlite build img.nix) | docker load``).  Builders see nixlite's store at ``/nix/store``
(``nixlite.build.sandbox``).  Exit status as nix-build: 100 for a failed
builder, 102 for a hash mismatch, 104 when ``--check`` finds a difference.
"""

from __future__ import annotations

import signal
import sys

from nixlite.cli import logs
from nixlite.cli.evaluation import (
    add_evaluation_arguments,
    evaluation_io,
    make_state,
    write_error,
)
from nixlite.cli.realising import make_realiser


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build", help="build derivations and link their outputs, as nix-build does",
        description="Build the derivations that FILE (default ./default.nix), -E EXPR or - "
        "(stdin) evaluates to, as `nix-build` does: make the result links and print the "
        "output paths.")
    add_evaluation_arguments(p)
    p.add_argument("-o", "--out-link", default="result", metavar="LINK",
                   help="name of the result link (default: result)")
    p.add_argument("--no-out-link", action="store_true", help="make no result link")
    p.add_argument("-j", "--max-jobs", default="1", metavar="N",
                   help="build up to N derivations at a time (a number or 'auto'; default 1)")
    p.add_argument("--cores", type=int, default=0, metavar="N",
                   help="NIX_BUILD_CORES for builders (default: the number of CPUs)")
    p.add_argument("-K", "--keep-failed", action="store_true",
                   help="keep the build directory of a failed build")
    p.add_argument("--dry-run", action="store_true", help="show what would be built")
    p.add_argument("--check", action="store_true",
                   help="rebuild the targets and report outputs that differ")
    p.add_argument("-L", "--print-build-logs", action="store_true",
                   help="print the whole build log as it is written")
    p.add_argument("-Q", "--no-build-output", action="store_true",
                   help="do not print build logs (the default; accepted for nix-build's sake)")
    p.add_argument("--plan", metavar="PLAN",
                   help="build the targets of a plan from `nixlite plan` (or its -A nodes) "
                   "without evaluating Nix; - reads it from standard input")
    p.set_defaults(func=run)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args) -> int:
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading_main() else None
    try:
        return _build(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _build(args) -> int:
    if args.plan:  # no evaluation: the plan's errors are not evaluation errors
        from nixlite.cli.plan_cmd import planned_targets
        from nixlite.store.local import LocalStore

        store = LocalStore(args.store)
        try:
            wanted = planned_targets(args, store)
            return _build_with(args, store, lambda realiser: wanted)
        finally:
            store.close()
    io = evaluation_io(args)
    try:
        return _build_with(args, io.store.local, lambda realiser: _evaluate_deep(args, io, realiser))
    finally:
        io.close()


def _evaluate_deep(args, io, realiser):
    from nixlite.eval.deep import run_deep

    return run_deep(evaluate_targets, args, io, realiser)


def _build_with(args, store, select) -> int:
    """Build what ``select(realiser)`` gives (``[(drv path, output, out path)]``)."""
    from nixlite.build.realise import BuildFailed
    from nixlite.errors import NixliteError

    try:
        realiser = make_realiser(store, args)
        try:
            wanted = select(realiser)
        finally:
            store.flush()
        targets = [(drv_path, {output}) for drv_path, output, _ in wanted]
        if args.dry_run:
            from nixlite.build.realise import missing_text

            sys.stderr.write(missing_text(*realiser.missing(targets)))
            return 0
        realiser.realise(targets)
        realiser.close()
    except BuildFailed as exc:
        sys.stdout.flush()
        if not logs.report_error(exc.render(), exc.message):
            sys.stderr.write(exc.render() + "\n")
        return exc.status
    except NixliteError as exc:
        write_error(exc, args.show_trace)
        return 1
    logs.clear()  # the bar, before the paths go to standard output
    links = {}
    for link, out_path in _result_links(args, wanted):
        links[link] = out_path
    for link, out_path in links.items():
        store.add_perm_root(link, out_path)
    for _, _, out_path in wanted:
        sys.stdout.write(store.physical(out_path) + "\n")
    return 0


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def evaluate_targets(args, io, realiser):
    """``[(drv path, output name, output path)]`` of the derivations selected."""
    from nixlite.cli.instantiate_cmd import selected_derivations

    state = make_state(args, io, read_write=True)
    state.io.realiser = lambda targets: realiser.realise(targets, announce=False)
    store = state.io.store
    wanted = []
    for drv_path, output in selected_derivations(state, args):
        out = store.read_derivation(drv_path).outputs.get(output)
        if out is None:
            from nixlite.eval.values import EvalError

            raise EvalError(f"derivation '{drv_path}' does not have an output '{output}'")
        wanted.append((drv_path, output, out.path))
    return wanted


def _result_links(args, wanted):
    """nix-build's link names: ``result``, ``result-2``… per derivation, ``-OUTPUT`` for
    outputs other than ``out``."""
    if args.no_out_link or args.dry_run:
        return []
    prefixes: dict[str, str] = {}
    out = []
    for drv_path, output, out_path in wanted:
        prefix = prefixes.get(drv_path)
        if prefix is None:
            prefix = args.out_link + (f"-{len(prefixes) + 1}" if prefixes else "")
            prefixes[drv_path] = prefix
        out.append((prefix if output == "out" else f"{prefix}-{output}", out_path))
    return out

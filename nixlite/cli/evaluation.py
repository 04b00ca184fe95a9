"""What ``nixlite eval`` and ``nixlite instantiate`` share, as ``nix-instantiate``'s
modes share it: the input and argument flags, the roots to evaluate, the
automatic arguments, and how errors are written."""

from __future__ import annotations

import argparse
import os
import sys

from nixlite.cli import nix_settings
from nixlite.cli.output import write_bytes

# What -E appends when it is given without a value: a flag, as in Nix, not the
# expression '' (which is a syntax error).
_FLAG_ONLY = object()


def add_evaluation_arguments(p, repeatable_rev: bool = False, prints_values: bool = True) -> None:
    """The flags every ``nix-instantiate`` mode takes (it ignores those of other modes),
    and ``--rev`` (see ``add_revision_argument``).  A command that prints no Nix values
    (``prints_values=False``: plan, compare) lacks ``--find-file``, ``--strict``,
    ``--json``, ``--xml`` and ``--no-location``, so they are refused rather than ignored
    (it may define its own ``--json``)."""
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
    if prints_values:
        p.add_argument("--find-file", action="store_true",
                       help="print where each argument is found in the search path")
    p.add_argument("--read-write-mode", action="store_true", help="accepted for compatibility")
    p.add_argument("--store", metavar="DIR", help="the nixlite store to use (default: $NIXLITE_STORE "
                   "or ~/.local/share/nixlite/store)")
    p.add_argument("--indirect", action="store_true", help="accepted for compatibility (no effect)")
    if prints_values:  # what --eval prints (nix-instantiate accepts these in every mode)
        p.add_argument("--strict", action="store_true", help="evaluate the result deeply")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("--xml", action="store_true", help="print the result as XML")
        p.add_argument("--no-location", action="store_true",
                       help="omit source positions in --xml output")
    p.add_argument("--trace-verbose", action="store_true", help="print builtins.traceVerbose messages")
    # Nix's settings: --option NAME VALUE (evaluation and store settings alike: one flag
    # feeds both), the substituter flags, and the evaluation flags named after settings.
    nix_settings.add_arguments(p)
    p.add_argument("--show-trace", action="store_true", help="show the evaluation trace on errors")
    from nixlite.cli import logs

    logs.add_arguments(p)
    for name in ("pure-eval", "restrict-eval", "abort-on-warn"):
        p.add_argument(f"--{name}", dest="setting_flags", action="append_const", const=(name, "true"),
                       help=f"set {name}")
    p.add_argument("--impure", dest="setting_flags", action="append_const", const=("pure-eval", "false"),
                   help="allow impure evaluation (the default)")
    p.add_argument("--no-allow-import-from-derivation", dest="setting_flags", action="append_const",
                   const=("allow-import-from-derivation", "false"), help=argparse.SUPPRESS)
    for name in ("max-call-depth", "lint-short-path-literals", "lint-absolute-path-literals",
                 "lint-url-literals", "experimental-features", "extra-experimental-features"):
        p.add_argument(f"--{name}", dest="setting_flags", action=_SettingFlag, metavar="VALUE",
                       help=f"set {name}")
    add_revision_argument(p, repeatable_rev)


def add_revision_argument(p, repeatable: bool = False) -> None:
    """``--rev REV``: read the recipe and what it imports from a git revision (``compare``
    takes it twice, one per side: ``repeatable`` collects a list)."""
    p.add_argument("--rev", action="append" if repeatable else "store", metavar="REV",
                   help="read the files of the recipe's git repository as they are at revision REV "
                   "(a branch, tag, commit or anything git rev-parse takes), not from the working tree")


class _SettingFlag(argparse.Action):
    """``--NAME VALUE`` for a setting: queued with the others, applied in order."""

    def __call__(self, parser, namespace, value, option_string=None):
        queued = list(getattr(namespace, self.dest) or [])
        queued.append((option_string[2:], value))
        setattr(namespace, self.dest, queued)


def evaluation_io(args, rev: str | None = None):
    """The I/O an evaluation of these arguments uses: the local file system and the
    ``--store`` store (opened only if evaluation needs it); close it when done.  With a
    revision (``rev``, else ``--rev``'s; a command that takes ``--rev`` more than once
    passes each), the files of the git repository holding the first input (or the
    current directory) are read as they are at that revision."""
    rev = rev if rev is not None else getattr(args, "rev", None)
    if rev is None:
        from nixlite.eval.io import LocalIO

        return LocalIO(store_root=args.store)
    from nixlite.eval.gitio import GitRevisionIO

    return GitRevisionIO.open(rev, _recipe_location(args), store_root=args.store)


def _recipe_location(args) -> str:
    """Where the repository of a ``--rev`` evaluation is looked for: the first file
    input (default ``./default.nix``), or the current directory for ``-E`` and stdin."""
    if args.expr is not None or (args.inputs and args.inputs[0] == "-"):
        return os.getcwd()
    return os.path.abspath(args.inputs[0] if args.inputs else "default.nix")


# Settings Nix knows (those `nix show-config` lists in 2.8, today's additions, and the old
# aliases Nix still accepts): `--option` sets them without the evaluator's "unknown
# setting" warning, as Nix does; those nixlite does not use have no effect.
_KNOWN_NIX_SETTINGS = frozenset("""
    abort-on-warn accept-flake-config access-tokens allow-dirty allow-dirty-locks
    allow-import-from-derivation allow-new-privileges allow-symlinked-store
    allow-unsafe-native-code-during-evaluation allowed-impure-host-deps allowed-uris
    allowed-users always-allow-substitutes auto-allocate-uids auto-optimise-store bash-prompt
    bash-prompt-prefix bash-prompt-suffix build-dir build-hook build-poll-interval
    build-users-group builders builders-use-substitutes commit-lock-file-summary
    commit-lockfile-summary compress-build-log connect-timeout cores debugger-on-trace
    debugger-on-warn diff-hook download-attempts download-buffer-size download-speed
    enforce-determinism eval-cache eval-cores eval-profile-file eval-profiler
    eval-profiler-frequency eval-system experimental-features extra-platforms fallback
    filter-syscalls flake-registry fsync-metadata fsync-store-paths gc-reserved-space
    hashed-mirrors http-connections http2 id-count ignore-try ignored-acls
    impersonate-linux-26 impure-env json-log-path keep-build-log keep-derivations
    keep-env-derivations keep-failed keep-going keep-outputs lazy-trees
    lint-absolute-path-literals lint-short-path-literals lint-url-literals log-lines
    max-build-log-size max-call-depth max-free max-jobs max-silent-time
    max-substitution-jobs min-free min-free-check-interval nar-buffer-size
    narinfo-cache-negative-ttl narinfo-cache-positive-ttl netrc-file nix-path
    nix-shell-always-looks-for-shell-nix nix-shell-shebang-arguments-relative-to-script
    plugin-files post-build-hook pre-build-hook preallocate-contents print-missing pure-eval
    repeat require-drop-supplementary-groups require-sigs restrict-eval run-diff-hook sandbox
    sandbox-build-dir sandbox-dev-shm-size sandbox-fallback sandbox-paths secret-key-files
    show-trace ssl-cert-file stalled-download-timeout start-id store substitute substituters
    sync-before-registering system system-features tarball-ttl timeout
    trace-function-calls trace-import-from-derivation trace-verbose
    trust-tarballs-from-git-forges trusted-public-keys trusted-substituters trusted-users
    upgrade-nix-store-path-url use-case-hack use-cgroups use-registries use-sqlite-wal
    use-xdg-base-directories user-agent-suffix warn-dirty warn-large-path-threshold
    binary-cache-public-keys binary-caches build-cache-failure build-chroot-dirs
    build-compress-log build-cores build-extra-chroot-dirs build-extra-sandbox-paths
    build-fallback build-keep-log build-max-jobs build-max-log-size build-max-silent-time
    build-repeat build-sandbox-paths build-timeout build-use-chroot build-use-sandbox
    build-use-substitutes env-keep-derivations gc-keep-derivations gc-keep-outputs
    trusted-binary-caches
""".split())


# The store settings nixlite reads besides those with defaults.
_STORE_SETTINGS = {"netrc-file", "ssl-cert-file"}


def is_known_setting(name: str) -> bool:
    from nixlite.store.settings import DEFAULTS

    base = name.removeprefix("extra-")
    return base in DEFAULTS or base in _STORE_SETTINGS or base in _KNOWN_NIX_SETTINGS


def make_state(args, io, *, read_write: bool):
    """The ``EvalState`` a command line asks for: settings, search path, I/O guard, and
    traces and warnings written as Nix writes them."""
    from nixlite.eval.settings import FEATURE_GATED_BUILTINS, EvalSettings, RestrictedIO
    from nixlite.eval.state import EvalState

    settings = EvalSettings(show_trace=args.show_trace)
    for name, value in [*args.option, *(args.setting_flags or [])]:
        warning = settings.set(name, value)
        if warning and not (warning.startswith("unknown setting") and is_known_setting(name)):
            write_stderr(f"warning: {warning}")
    args.show_trace = settings.show_trace
    pure = settings.pure_eval
    state = EvalState(io=io, search_path=[] if pure else args.include, use_nix_path_env=not pure,
                      show_trace=settings.show_trace, read_write=read_write, pure=pure,
                      trace_sink=write_stderr, settings=settings)
    state.trace_verbose = args.trace_verbose
    if pure:  # Nix does not define them in pure evaluation
        for name in ("currentTime", "currentSystem"):
            del state.builtins[name]
    for name, feature in FEATURE_GATED_BUILTINS.items():
        if feature not in settings.experimental_features:
            state.builtins.pop(name, None)
    if pure or settings.restrict_eval:
        from nixlite.eval.builtins.core import COREPKGS_DIR
        from nixlite.store.paths import store_dir

        roots = [os.path.abspath(path) for _, path in state.search_path] + [COREPKGS_DIR]
        mode = "in pure eval mode (use '--impure' to override)" if pure else "in restricted mode"
        state.io = RestrictedIO(state.io, roots, store_dir(), mode)
    _lint_on_compile(state)
    return state


def _lint_on_compile(state) -> None:
    """Run the literal lints on every file and expression as it is compiled."""
    from nixlite.eval.lint import lint, wants_lint

    if not wants_lint(state.settings):
        return
    compile_ = state.compiler.compile
    linted: set[int] = set()  # sources (files, expressions) already linted, by id

    def compile_linted(expr):
        # compile() is also called on parts of a tree: lint each source once, whole
        if id(expr.src) not in linted:
            linted.add(id(expr.src))
            lint(expr, state.settings, write_stderr)
        return compile_(expr)

    state.compiler.compile = compile_linted


def find_files(state, args) -> int:
    """``--find-file``: where each argument is in the search path, one per line."""
    for name in args.inputs:
        write_bytes(sys.stdout, state.find_file(state.search_path, name) + "\n")
    return 0


def auto_arguments(state, args):
    """The ``--arg``/``--argstr`` set a top-level function is called with.

    As in Nix, every ``--arg`` is parsed at once (a syntax error fails the command
    even when the argument is never used) and evaluated only when used."""
    from nixlite.eval.values import Attrs, Thunk
    from nixlite.syntax import parse

    auto_args = Attrs()
    for name, text in args.arg:
        code = state.compile_expr(parse(text, "«string»", state.io.cwd()))
        auto_args[name] = Thunk(code, None)
    for name, value in args.argstr:
        auto_args[name] = value
    return auto_args


def roots(state, args) -> list:
    """One callable per input (expression, file, or ``-``), each evaluating it."""
    if args.expr is not None:
        texts = [t for t in args.expr if t is not _FLAG_ONLY] + list(args.inputs)
        return [lambda t=text: state.eval_string(t, "«string»") for text in texts]
    out = []
    for f in args.inputs or ["./default.nix"]:
        if f == "-":
            text = sys.stdin.read()
            out.append(lambda t=text: state.eval_string(t, "«stdin»"))
        else:
            out.append(lambda p=os.path.abspath(f): state.eval_file(p))
    return out


def write_error(exc, show_trace: bool) -> None:
    """An error as Nix lays it out (evaluation errors with their trace frames)."""
    from nixlite.errors import indent_message
    from nixlite.eval.values import EvalError, render_pos

    sys.stdout.flush()
    if isinstance(exc, EvalError):
        text = exc.render(show_trace=show_trace)
        if not show_trace and any(_hinted(message) for message, _ in exc.trace):
            text += "\n(use '--show-trace' to show detailed location information)"
    else:  # parse and resolve errors: same layout as Nix's
        text = "error: " + indent_message(exc.message)
        if exc.pos is not None:
            text += "\n\n" + render_pos(exc.pos)
    from nixlite.cli import logs

    if not logs.report_error(text, exc.message, exc.pos):  # a bar is erased; JSON gets a msg
        write_stderr(text)


def _hinted(frame: str) -> bool:
    """Whether 2.8 has this frame without --show-trace (then it hints at the flag).
    Not the frames of function calls (recorded only under --show-trace), nor the
    builtin-argument frames, which are today's Nix's (2.8 has none of them)."""
    return not frame.startswith(("while calling", "from call site")) and \
        " argument passed to builtins." not in frame


def write_stderr(text: str) -> None:
    """A line for the user (error, trace, warning) as Nix's logger writes it: terminal
    escapes removed unless stderr is a terminal (colours kept there), tabs expanded; with
    ``--log-format internal-json``, a ``msg`` at Nix's level (traces and errors are
    errors, warnings warnings)."""
    from nixlite.cli import logs

    logger = logs.current()
    if getattr(logger, "error", None) is not None:  # a logger that shows messages itself
        from nixlite.activity import Verbosity

        logger.log(Verbosity.ERROR if text.startswith(("trace:", "error:")) else Verbosity.WARN,
                   text)
        return
    write_bytes(sys.stderr, filter_ansi_escapes(text, keep_colours=sys.stderr.isatty()) + "\n")


def filter_ansi_escapes(text: str, keep_colours: bool) -> str:
    """Nix's ``filterANSIEscapes``: drop escape sequences (but colour ones, if asked),
    carriage returns and bells; tabs to the next multiple of 8 counted from the start
    of the text (Nix counts columns across lines)."""
    if "\x1b" not in text and "\t" not in text and "\r" not in text and "\a" not in text:
        return text
    out: list[str] = []
    width = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\x1b":
            j = i + 1
            final = ""
            if j < n and text[j] == "[":
                j += 1
                while j < n and "\x30" <= text[j] <= "\x3f":
                    j += 1
                while j < n and "\x20" <= text[j] <= "\x2f":
                    j += 1
                if j < n and "\x40" <= text[j] <= "\x7e":
                    final = text[j]
                    j += 1
            elif j < n and "\x40" <= text[j] <= "\x5f":
                j += 1
            if keep_colours and final == "m":
                out.append(text[i:j])
            i = j
        elif c == "\t":
            out.append(" ")
            width += 1
            while width % 8:
                out.append(" ")
                width += 1
            i += 1
        elif c == "\r" or c == "\a":
            i += 1
        else:
            out.append(c)
            width += 1
            i += 1
    return "".join(out)

"""Realising derivations: the scheduler and the builder runner.

``Realiser.realise(targets)`` builds every missing output the targets need, in
dependency order, up to ``jobs`` builds at a time, as Nix's worker does:

* a derivation is built when one of its wanted outputs is not valid; outputs
  that are valid are never rebuilt (a derivation with some valid outputs builds
  them at throw-away paths, as ``--check`` does);
* before building, the outputs are locked (one lock file each) and checked
  again, so two processes on one store build each derivation once;
* a process builder runs in a fresh build directory with Nix's environment,
  stdin on ``/dev/null``, stdout and stderr on a pseudo-terminal whose output
  is the build log (kept in the store: ``nixlite store log``);
  ``builtin:NAME`` runs the native step NAME on a thread instead;
* then ``outputs.collect_outputs`` normalises, scans and checks the outputs
  and the store registers them, all of one derivation in one transaction.

With a ``substituter`` (``nixlite.store.binary_cache.Substituter``) the plan is
Nix's ``queryMissing``: the missing outputs of the plan are asked for a level
of the graph at a time, each level in one parallel query; a derivation whose
wanted outputs all come from a cache is fetched, not built, and its inputs are
neither built, fetched nor asked for.  What a
cache fails to deliver is an error, as in Nix, unless ``fallback`` is set: then it
is built after all (the plan is made again without it).

Failures are reported as Nix reports them (``builder for '…' failed with exit
code N``, the log's last lines, ``N dependencies of derivation '…' failed to
build``) and end in ``BuildFailed`` with nix-build's exit status (100, 102,
104).  An interrupt kills the builders and removes what they wrote.
"""

from __future__ import annotations

import collections
import os
import selectors
import signal
import struct
import threading
import time
import tty
from dataclasses import dataclass

from nixlite.activity import Activity, ActivityType, Logger, Verbosity, to_stderr
from nixlite.build.environment import BuildSetupError, builder_env, make_build_dir
from nixlite.build.native import NativeSteps, StepContext, StepFailed
from nixlite.build.outputs import OutputError, collect_outputs, normalise, rewrite_hashes, scan
from nixlite.build.sandbox import Builder, Launcher
from nixlite.errors import NixliteError
from nixlite.store.derivation import Derivation, DrvOutput
from nixlite.store.hashes import nixbase32_encode
from nixlite.store.local import LocalStore, dependencies_first, remove_tree
from nixlite.store.paths import HASH_PART_LEN


class BuildFailed(NixliteError):
    """The build as a whole failed; ``status`` is the process exit status to use."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class BuildOptions:
    jobs: int = 1
    cores: int = 0               # NIX_BUILD_CORES; 0: the number of CPUs, as Nix
    keep_failed: bool = False    # -K
    check: bool = False          # rebuild the targets and compare
    fallback: bool = False       # build what the substituters fail to deliver (else an error)
    log_lines: int = 10          # Nix's log-lines


# Worker exit-status bits, as Nix's Worker::exitStatus.
_BUILD_FAILURE = 0x04
_CHECK_MISMATCH = 0x08


class _Goal:
    __slots__ = ("drv_path", "drv", "deps", "dependents", "failed_deps", "check", "seq", "waiting")
    _count = 0

    def __init__(self, drv_path: str, drv: Derivation) -> None:
        _Goal._count += 1
        self.seq = _Goal._count  # creation order: Nix notifies waiting goals in this order
        self.drv_path = drv_path
        self.drv = drv
        self.deps: set[_Goal] = set()
        self.dependents: set[_Goal] = set()
        self.failed_deps = 0
        self.check = False
        self.waiting: Activity | None = None  # "waiting for lock", while another process builds it


class _Outcome:
    """How the targets fared, and Nix's rules for what is printed when.

    A failure is printed as it happens, except the failure of the only target,
    which becomes the final error (nix-build prints it once, last)."""

    def __init__(self, tops: list[_Goal], say_error) -> None:
        self.tops = tops
        self.say_error = say_error
        self.settled: dict[_Goal, str | None] = {}
        self.bits = 0
        self.stop = False

    def settle(self, g: _Goal, message: str | None) -> None:
        self.settled[g] = message
        if message is None:
            return
        if not (len(self.tops) == 1 and g is self.tops[0]):
            self.say_error(message)
        if g in self.tops:
            self.stop = True

    def raise_if_failed(self) -> None:
        failed = [g for g in self.tops if self.settled.get(g, "not built") is not None]
        if not failed:
            return
        status = (self.bits | 0x60) if self.bits else 1
        if len(self.tops) == 1:
            raise BuildFailed(self.settled.get(failed[0]) or f"build of '{failed[0].drv_path}' failed",
                              status)
        raise BuildFailed("build of " + ", ".join(f"'{g.drv_path}'" for g in
                                                  sorted(failed, key=lambda g: g.drv_path))
                          + " failed", status)


class _Build:
    """One running build: its process or thread, log and scratch state."""

    def __init__(self, goal: _Goal, locks: list[int]) -> None:
        self.goal = goal
        self.act: Activity | None = None  # the build's activity: its log lines go there
        self.locks = locks
        self.proc: Builder | None = None
        self.thread: threading.Thread | None = None
        self.step_error: BaseException | None = None
        self.fd = -1
        self.log = None
        self.commit_log = None
        self.tail: collections.deque[str] = collections.deque()
        self.partial = b""
        self.build_dir = ""
        self.locations: dict[str, str] = {}  # output name -> physical path written
        self.redirects: dict[str, str] = {}  # output name -> logical throw-away path
        self.input_closure: set[str] = set()
        self.cancel = threading.Event()


class Realiser:
    """Builds derivations into ``store``; ``steps`` are the native ``builtin:`` steps.
    What it does is reported to ``logger`` (default: plain lines on standard error)."""

    def __init__(self, store: LocalStore, steps: NativeSteps, options: BuildOptions | None = None,
                 substituter=None, logger: Logger | None = None) -> None:
        self.store = store
        self.substituter = substituter
        self._substitutable: dict = {}  # path -> NarInfo of the caches, for the current plan
        self.steps = steps
        self.options = options or BuildOptions()
        self.logger = logger or to_stderr()
        self._launcher: Launcher | None = None
        self._closures: dict[str, frozenset[str]] = {}

    # ----------------------------------------------------------------- output

    def _say(self, text: str, level: Verbosity = Verbosity.INFO) -> None:
        """Lines of text, one message each (as Nix prints its plan)."""
        for line in text.splitlines():
            self.logger.log(level, line)

    def _error(self, message: str) -> None:
        self.logger.log(Verbosity.ERROR, NixliteError(message).render())

    # --------------------------------------------------------------- planning

    def _plan(self, targets) -> tuple[dict[str, _Goal], list[_Goal]]:
        """Goals for every derivation that must be built; also the targets' goals.
        With a substituter, ``self._fetch`` maps the paths to substitute first to the
        derivations they are outputs of (``None`` for sources)."""
        self._substitutable, self._asked = {}, set()
        self._survey(targets)
        return self._plan_with(targets, self._substitutable)

    def _survey(self, targets) -> None:
        """As Nix's ``queryMissing``: ask the caches for the missing outputs a level at a
        time (each level in parallel); the inputs of what they have are never asked for."""
        if self.substituter is None:
            return
        while True:
            unasked: set[str] = set()
            self._plan_with(targets, self._substitutable, self._asked, unasked)
            if not unasked:
                return
            self._asked |= unasked
            self._substitutable.update(self._query(unasked))

    def _query(self, paths) -> dict:
        """The narinfos the caches have for the missing ``paths`` (one parallel query)."""
        store = self.store
        missing = sorted({p for p in paths if not store.is_valid(p)})
        return self.substituter.query(missing) if missing else {}

    def _plan_with(self, targets, substitutable: dict, asked: set | None = None,
                   unasked: set | None = None) -> tuple[dict[str, _Goal], list[_Goal]]:
        """The plan given what the caches have.  Surveying (``unasked`` given): missing
        paths not yet ``asked`` about go to ``unasked``, and the walk stops at them."""
        store = self.store
        surveying = unasked is not None
        goals: dict[str, _Goal] = {}
        tops: list[_Goal] = []
        fetch = self._fetch = {}  # path to substitute -> the derivation it is an output of
        check_paths = {d for d, _ in targets} if self.options.check else set()
        uncheckable = self._uncheckable = []

        def needed(drv_path: str, outputs) -> bool:
            drv = store.read_derivation(drv_path)
            if isinstance(outputs, str):
                outputs = (outputs,)
            wanted = set(outputs) if outputs else set(drv.outputs)
            missing = wanted - set(drv.outputs)
            if missing:
                raise BuildFailed(f"derivation '{drv_path}' does not have wanted outputs "
                                  + ", ".join(f"'{o}'" for o in sorted(missing)))
            if drv_path in goals:
                return True
            if all(store.is_valid(drv.outputs[o].path) for o in wanted):
                return drv_path in check_paths
            if drv_path not in check_paths and _substitutes_allowed(drv):
                invalid = {p for p in (drv.outputs[o].path for o in wanted) if not store.is_valid(p)}
                if surveying and not invalid <= asked:
                    unasked.update(invalid - asked)
                    return False
                if invalid <= substitutable.keys():
                    fetch.update(dict.fromkeys(invalid, drv_path))
                    return False
            if drv_path in check_paths and drv_path not in uncheckable:
                uncheckable.append(drv_path)
            return True

        def visit(drv_path: str) -> _Goal:
            """Iterative depth-first walk: deep chains must not exhaust Python's stack."""
            root = goals[drv_path] = _Goal(drv_path, store.read_derivation(drv_path))
            stack = [root]
            while stack:
                g = stack.pop()
                for src in g.drv.input_srcs:
                    if store.is_valid(src):
                        continue
                    if src in substitutable:
                        fetch[src] = None
                    elif surveying:
                        if src not in asked:
                            unasked.add(src)
                    else:
                        raise BuildFailed(f"path '{src}' is required by '{g.drv_path}' but is not valid")
                for dep_path in sorted(g.drv.input_drvs):
                    if not needed(dep_path, g.drv.input_drvs[dep_path]):
                        continue
                    dep = goals.get(dep_path)
                    if dep is None:
                        dep = goals[dep_path] = _Goal(dep_path, store.read_derivation(dep_path))
                        stack.append(dep)
                    g.deps.add(dep)
                    dep.dependents.add(g)
            return root

        for drv_path, outputs in targets:
            if needed(drv_path, outputs):
                g = goals.get(drv_path) or visit(drv_path)
                g.check = drv_path in check_paths
                if g not in tops:
                    tops.append(g)
        return goals, tops

    def missing(self, targets) -> tuple[list[str], dict]:
        """What ``realise(targets)`` would do: the derivations it would build, in Nix's
        printing order, and ``{path: NarInfo}`` of the paths it would fetch."""
        goals, _ = self._plan(targets)
        return self._print_order(goals), self._fetch_closure()

    def _fetch_closure(self) -> dict:
        """The paths substituting ``self._fetch`` adds: those and their missing references."""
        infos = self._substitutable
        out: dict = {}
        todo = set(self._fetch)
        while todo:
            unknown = [p for p in todo if p not in infos]
            if unknown:
                infos.update(self._query(unknown))
            refs = set()
            for p in todo:
                if p in infos and not self.store.is_valid(p):
                    out[p] = infos[p]
                    refs |= infos[p].references
            todo = {r for r in refs if r not in out and not self.store.is_valid(r)}
        return out

    def _substitute(self, targets, act: Activity):
        """Fetch what the plan fetches; plan again without what the caches failed to deliver."""
        while True:
            goals, tops = self._plan_with(targets, self._substitutable)
            if not self._fetch:
                return goals, tops
            got = self.substituter.substitute(sorted(self._fetch), self.store, parent=act)
            failed = self._fetch.keys() - got
            if not failed:
                return self._plan_with(targets, self._substitutable)
            drvs = sorted({self._fetch[p] for p in failed} - {None})
            if drvs and not self.options.fallback:
                raise BuildFailed(f"some substitutes for the outputs of derivation '{drvs[0]}' failed "
                                  "(usually happens due to networking issues); try '--fallback' to "
                                  "build derivation from source")
            for p in failed:
                self._substitutable.pop(p, None)
            self._survey(targets)  # the inputs of what is built after all

    def _print_order(self, goals: dict[str, _Goal]) -> list[str]:
        """``printMissing``'s order: dependencies first, through each ``.drv``'s references."""
        return dependencies_first(goals, lambda p: goals[p].drv.references() & goals.keys())

    def _announce(self, goals: dict[str, _Goal]) -> None:
        """nix-build's plan (``--check`` goals whose outputs are all valid are not in it)."""
        store = self.store
        goals = {p: g for p, g in goals.items()
                 if not g.check or not all(store.is_valid(o.path) for o in g.drv.outputs.values())}
        self._say(missing_text(self._print_order(goals), self._fetch_closure()))

    # -------------------------------------------------------------- realising

    def realise(self, targets, announce: bool = True) -> None:
        """Build what ``targets`` (``(drv path, output name(s) or None)`` pairs) need.
        ``announce``: list them first, as nix-build does (imports from derivations do not)."""
        goals, tops = self._plan(targets)
        if not goals and not self._fetch:
            return
        if announce:
            self._announce(goals)
        with self.logger.activity(ActivityType.REALISE) as act:
            if self._fetch:
                fetched = self._fetch_closure()  # what the bar counts the copies' bytes against
                act.set_expected(ActivityType.COPY_PATH, sum(i.nar_size or 0 for i in fetched.values()))
                if all(url.startswith(("http:", "https:")) for url in self.substituter.urls):
                    act.set_expected(ActivityType.FILE_TRANSFER,  # local caches download nothing
                                     sum(i.file_size or 0 for i in fetched.values()))
                goals, tops = self._substitute(targets, act)
                if not goals:
                    return
            if self._uncheckable:
                raise BuildFailed(f"some outputs of '{self._uncheckable[0]}' are not valid, so "
                                  "checking is not possible")
            self.store.flush()
            gc_fd = self.store.gc_lock(exclusive=False)
            try:
                self._run(goals, tops, act)
            finally:
                os.close(gc_fd)

    def _run(self, goals: dict[str, _Goal], tops: list[_Goal], parent: Activity) -> None:
        """The worker loop.  Without keep-going (Nix's default) the first failure of a
        target stops everything: running builds are killed, nothing new starts."""
        jobs = max(1, self.options.jobs)
        ready = [g for g in goals.values() if not g.deps]
        waiting_for_lock: list[_Goal] = []
        running: dict[int, _Build] = {}
        sel = selectors.DefaultSelector()
        state = _Outcome(tops, self._error)
        builds = parent.child(ActivityType.BUILDS)
        built = [0, 0]  # derivations built, failed

        def report() -> None:
            builds.progress(built[0], len(goals), len(running), built[1])

        def settle(g: _Goal, message: str | None, ran: bool = False) -> None:
            """Record ``g``'s result and pass it on to the goals waiting for it; ``ran``:
            its builder ran (it counts as built or failed)."""
            if ran:
                built[message is not None] += 1
                report()
            todo = [(g, message)]
            while todo:
                g, message = todo.pop()
                if g.failed_deps and state.stop:  # cancelled, as Nix drops its goals silently
                    state.settled[g] = message
                    continue
                state.settle(g, message)
                for d in sorted(g.dependents, key=lambda x: x.seq, reverse=True):
                    if d in state.settled:
                        continue
                    d.deps.discard(g)
                    if message is not None:
                        d.failed_deps += 1
                    if d.deps:
                        continue
                    if d.failed_deps:
                        todo.append((d, f"{d.failed_deps} dependencies of derivation "
                                        f"'{d.drv_path}' failed to build"))
                    else:
                        ready.append(d)

        try:
            while True:
                if not state.stop:
                    # Nix's worker wakes goals in the order of their key: name, then path
                    candidates = sorted(waiting_for_lock + ready, key=_goal_key)
                    waiting_for_lock, ready[:] = [], []
                    for g in candidates:
                        if len(running) >= jobs:
                            ready.append(g)
                            continue
                        outcome = self._start(g, running, sel, parent)
                        if outcome == "busy":
                            waiting_for_lock.append(g)
                        elif outcome == "valid":
                            settle(g, None)
                        else:
                            report()
                if not running:
                    if state.stop or not (ready or waiting_for_lock):
                        break
                    if not ready:
                        time.sleep(0.05)
                    continue
                for key, _ in sel.select(0.05 if waiting_for_lock else None):
                    b = key.data
                    try:
                        data = os.read(b.fd, 65536)
                    except OSError:  # EIO: every writer of the pty is gone
                        data = b""
                    if data:
                        self._log_data(b, data)
                        continue
                    sel.unregister(b.fd)
                    os.close(b.fd)
                    del running[b.fd]
                    try:
                        bits, message = self._complete(b)
                    except BaseException:
                        self._cleanup(b, ok=False)
                        raise
                    state.bits |= bits
                    settle(b.goal, message, ran=True)
                if state.stop:
                    for b in running.values():
                        self._kill(b)
        finally:
            for b in running.values():
                self._kill(b)
                sel.unregister(b.fd)
                os.close(b.fd)
                self._reap(b)
                self._cleanup(b, ok=False)
            sel.close()
            for g in goals.values():
                if g.waiting is not None:
                    g.waiting.stop()
            builds.stop()
        state.raise_if_failed()

    # ------------------------------------------------------------ one build

    def _start(self, g: _Goal, running: dict, sel, parent: Activity) -> str:
        """Lock and start ``g``: ``started``, ``busy`` (locked elsewhere) or ``valid``."""
        store = self.store
        drv = g.drv
        out_paths = [o.path for o in drv.outputs.values()]
        locks = store.try_lock_outputs(out_paths)
        if locks is None:
            if g.waiting is None:
                g.waiting = parent.child(ActivityType.BUILD_WAITING,
                                         f"waiting for lock on '{sorted(out_paths)[0]}'",
                                         level=Verbosity.WARN)
            return "busy"
        if g.waiting is not None:
            g.waiting.stop()
        valid = {name for name, o in drv.outputs.items() if store.is_valid(o.path)}
        if len(valid) == len(drv.outputs) and not g.check:
            store.unlock(locks)
            return "valid"
        b = _Build(g, locks)
        try:
            for name, o in drv.outputs.items():
                if name in valid:  # already valid: build it aside and throw it away
                    b.redirects[name] = _throwaway_path(o.path)
                    b.locations[name] = store.physical(b.redirects[name])
                else:
                    b.locations[name] = store.physical(o.path)
                remove_tree(b.locations[name])  # left by a build that died
            b.input_closure = self._input_closure(drv)
            b.build_dir = make_build_dir(g.drv_path)
            b.log, b.commit_log = store.new_log(g.drv_path)
            verb = "checking outputs of" if g.check else "building"
            b.act = parent.child(ActivityType.BUILD, f"{verb} '{g.drv_path}'", (g.drv_path, "", 1, 1),
                                 level=Verbosity.INFO)
            if drv.builder.startswith("builtin:"):
                self._start_step(b)
            else:
                self._start_process(b)
        except BaseException:
            self._cleanup(b, ok=False)
            raise
        running[b.fd] = b
        sel.register(b.fd, selectors.EVENT_READ, b)
        return "started"

    def _input_closure(self, drv: Derivation) -> set[str]:
        """The closure of the build's inputs, from memoised per-path closures (a deep
        graph would otherwise query the same references once per dependent)."""
        roots = set(drv.input_srcs)
        for dep_path, outs in drv.input_drvs.items():
            dep = self.store.read_derivation(dep_path)
            roots.update(dep.outputs[o].path for o in outs)
        out: set[str] = set()
        for p in roots:
            out |= self._closure_of(p)
        return out

    def _closure_of(self, path: str) -> frozenset[str]:
        memo = self._closures
        hit = memo.get(path)
        if hit is not None:
            return hit
        # iterative post-order, so long reference chains do not recurse
        stack = [(path, False)]
        while stack:
            p, expanded = stack.pop()
            if p in memo:
                continue
            refs = self.store.references(p) - {p}
            if expanded:
                c = {p}
                for r in refs:
                    c |= memo[r]
                memo[p] = frozenset(c)
            else:
                stack.append((p, True))
                stack.extend((r, False) for r in refs if r not in memo)
        return memo[path]

    def _rewrites(self, b: _Build) -> dict[str, str]:
        return {b.goal.drv.outputs[name].path: path for name, path in b.redirects.items()}

    def _start_process(self, b: _Build) -> None:
        drv = b.goal.drv
        rewrites = self._rewrites(b)
        env, _ = builder_env(_rewritten(drv, rewrites), b.build_dir, self.store,
                             self.options.cores or os.cpu_count() or 1, b.input_closure)
        if self._launcher is None:
            self._launcher = Launcher(self.store.real_dir, self.store.store_dir,
                                      os.path.join(self.store.root, "sandbox-root"))
        master, slave = os.openpty()
        tty.setraw(slave)
        builder = _rewrite(drv.builder, rewrites)
        try:
            b.proc = self._launcher.start(
                not drv.is_fixed_output(), builder,
                [os.path.basename(builder), *(_rewrite(a, rewrites) for a in drv.args)],
                env, b.build_dir, slave)
        finally:
            os.close(slave)
        b.fd = master

    def _start_step(self, b: _Build) -> None:
        drv = b.goal.drv
        name = drv.builder[len("builtin:"):]
        step = self.steps.get(name)
        r, w = os.pipe()
        b.fd = r
        log = os.fdopen(w, "w", buffering=1, encoding="utf-8", errors="surrogateescape")
        if step is None:
            log.write(f"error: unsupported builtin builder '{drv.builder}'\n")
            log.close()
            b.step_error = StepFailed(f"unsupported builtin builder '{drv.builder}'")
            return
        env, attrs = builder_env(drv, b.build_dir, self.store,
                                 self.options.cores or os.cpu_count() or 1, b.input_closure)
        ctx = StepContext(
            drv_path=b.goal.drv_path, env=env, attrs=attrs, outputs=dict(b.locations),
            output_paths={n: o.path for n, o in drv.outputs.items()}, build_dir=b.build_dir,
            store=self.store, log=log, cores=self.options.cores or os.cpu_count() or 1,
            cancelled=b.cancel, activity=b.act)

        def run() -> None:
            try:
                step(ctx)
            except StepFailed as exc:
                b.step_error = exc
                log.write(f"error: {exc}\n")
            except BaseException as exc:  # noqa: BLE001 - reported as the build's failure
                b.step_error = exc
                log.write(f"error: {type(exc).__name__}: {exc}\n")
            finally:
                log.close()

        b.thread = threading.Thread(target=run, name=f"step {name}", daemon=True)
        b.thread.start()

    def _log_data(self, b: _Build, data: bytes) -> None:
        b.log.write(data)
        lines = (b.partial + data).split(b"\n")
        b.partial = lines.pop()
        for raw in lines:
            line = raw.decode("utf-8", "surrogateescape")
            line = line[line.rfind("\r") + 1:] if "\r" in line[:-1] else line.rstrip("\r")
            b.act.log_line(line)
            b.tail.append(line)
            if len(b.tail) > self.options.log_lines:
                b.tail.popleft()

    def close(self) -> None:
        """Stop the builder launchers (they also stop when this process ends)."""
        if self._launcher is not None:
            self._launcher.close()
            self._launcher = None

    def _reap(self, b: _Build) -> int:
        if b.thread is not None:
            b.thread.join()
            return 1 if b.step_error else 0
        if b.proc is not None:
            return b.proc.wait()
        return 1

    def _complete(self, b: _Build) -> tuple[int, str | None]:
        """Finish a build whose log has ended: ``(exit bits, None)`` or the error message."""
        if b.partial:
            self._log_data(b, b"\n")
        status = self._reap(b)
        g = b.goal
        if status != 0 or b.step_error is not None:
            self._cleanup(b, ok=False)
            return _BUILD_FAILURE, self._failure_message(b, status)
        try:
            bits, message = self._register(b)
        except (OutputError, BuildSetupError) as exc:
            self._cleanup(b, ok=False)
            return getattr(exc, "exit_bits", 0), exc.message
        self._cleanup(b, ok=message is None)
        return bits, message

    def _failure_message(self, b: _Build, status: int) -> str:
        if b.thread is not None or b.proc is None:
            how = "failed with exit code 1"
        elif status < 0:
            how = f"failed due to signal {-status} ({signal.strsignal(-status)})"
        else:
            how = f"failed with exit code {status}"
        msg = f"builder for '{b.goal.drv_path}' {how}"
        if not self.logger.shows_build_logs and b.tail:
            msg += f";\nlast {len(b.tail)} log lines:\n" + "".join(f"> {line}\n" for line in b.tail)
            msg += f"For full logs, run 'nixlite store log {b.goal.drv_path}'."
        return msg

    def _register(self, b: _Build) -> tuple[int, str | None]:
        """Post-process and register the outputs; compare them under ``--check``."""
        store = self.store
        g = b.goal
        drv = g.drv
        if b.redirects:
            rewrites = {_hash_part(t).encode(): _hash_part(drv.outputs[n].path).encode()
                        for n, t in b.redirects.items()}
            for loc in b.locations.values():
                if os.path.lexists(loc):
                    rewrite_hashes(loc, rewrites)
        fresh = {n: loc for n, loc in b.locations.items() if n not in b.redirects}
        infos = collect_outputs(store, g.drv_path, drv, fresh, b.input_closure)
        if infos:
            store.register_outputs(infos)
        if not g.check:
            return 0, None
        for name in sorted(b.redirects):
            loc = b.locations[name]
            real = drv.outputs[name].path
            if not os.path.lexists(loc):
                raise OutputError(f"builder for '{g.drv_path}' failed to produce output path for "
                                  f"output '{name}' at '{real}'")
            normalise(loc)
            nar_hash, _, _ = scan(loc, ())
            if nar_hash != store.query_path_info(real).nar_hash:
                msg = f"derivation '{g.drv_path}' may not be deterministic: output '{real}' differs"
                if self.options.keep_failed:
                    kept = store.physical(real) + ".check"
                    remove_tree(kept)
                    os.rename(loc, kept)
                    msg += f" from '{real}.check'"
                return _CHECK_MISMATCH, msg
        return 0, None

    def _kill(self, b: _Build) -> None:
        b.cancel.set()
        if b.proc is not None:
            b.proc.kill()

    def _cleanup(self, b: _Build, ok: bool) -> None:
        """Remove what a build leaves behind (outputs unless registered, scratch paths, the
        build directory unless -K on failure), keep its log, release its locks."""
        for name, loc in b.locations.items():
            if not ok or name in b.redirects:
                if os.path.lexists(loc):
                    remove_tree(loc)
        if b.build_dir:
            if not ok and self.options.keep_failed:
                self.logger.log(Verbosity.ERROR, f"note: keeping build directory '{b.build_dir}'")
            else:
                remove_tree(b.build_dir)
        if b.commit_log is not None:
            b.commit_log()
            b.commit_log = None
        self.store.unlock(b.locks)
        b.locks = []
        if b.act is not None:
            b.act.stop()


def missing_text(drvs: list[str], fetched: dict | None = None) -> str:
    """``printMissing``'s lines for derivations that will be built and paths that will be
    fetched (``{path: NarInfo}``), sizes in MiB as Nix computes them (single floats)."""
    text = ""
    if drvs:
        text = ("this derivation will be built:\n" if len(drvs) == 1
                else f"these {len(drvs)} derivations will be built:\n")
        text += "".join(f"  {p}\n" for p in drvs)
    if fetched:
        download = _mib(sum(i.file_size or 0 for i in fetched.values()))
        unpacked = _mib(sum(i.nar_size or 0 for i in fetched.values()))
        what = "this path" if len(fetched) == 1 else f"these {len(fetched)} paths"
        text += f"{what} will be fetched ({download:.2f} MiB download, {unpacked:.2f} MiB unpacked):\n"
        text += "".join(f"  {p}\n" for p in sorted(fetched))
    return text


def _mib(size: int) -> float:
    """``size / (1024.f * 1024.f)`` in C's single precision, as Nix prints it."""
    return struct.unpack("f", struct.pack("f", size))[0] / 1048576.0  # exact: a power of two


def _substitutes_allowed(drv: Derivation) -> bool:
    """Nix's ``allowSubstitutes`` (default true; a string attribute is true only as "1")."""
    value = drv.env.get("allowSubstitutes")
    return value is None or value == "1"


def _goal_key(g: _Goal) -> tuple[str, str]:
    return os.path.basename(g.drv_path)[HASH_PART_LEN + 1:], g.drv_path


def _hash_part(path: str) -> str:
    return os.path.basename(path)[:HASH_PART_LEN]


def _throwaway_path(path: str) -> str:
    """A path of the same length and name as ``path``, with a random hash part."""
    d, base = os.path.split(path)
    return f"{d}/{nixbase32_encode(os.urandom(20))}{base[HASH_PART_LEN:]}"


def _rewrite(s: str, rewrites: dict[str, str]) -> str:
    for old, new in rewrites.items():
        s = s.replace(old, new)
    return s


def _rewritten(drv: Derivation, rewrites: dict[str, str]) -> Derivation:
    if not rewrites:
        return drv
    outputs = {n: DrvOutput(_rewrite(o.path, rewrites), o.hash_algo, o.hash) for n, o in drv.outputs.items()}
    return Derivation(drv.name, outputs, drv.input_drvs, drv.input_srcs, drv.platform,
                      drv.builder, drv.args, {k: _rewrite(v, rewrites) for k, v in drv.env.items()})

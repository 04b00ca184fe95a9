"""The contract between the realiser and native build steps.

A derivation whose ``builder`` is ``builtin:NAME`` is not run as a process: the
realiser looks ``NAME`` up in the table of native steps it was given and calls
the step with a ``StepContext``.  Everything else about the build is the same as
for a process builder: the outputs are written at the physical paths given here,
then normalised, scanned for references, checked and registered by the realiser.

Steps are passed in by whoever builds the realiser (the CLI composes Nix's own
``builtin:fetchurl`` with nixlite's image steps), so this module imports no step
and no stage to its right.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Mapping, TextIO

from nixlite.activity import Activity, detached
from nixlite.store.local import LocalStore


@dataclass
class StepContext:
    """What a native step sees of its build."""

    drv_path: str                 # logical /nix/store/….drv
    env: Mapping[str, str]        # the environment a process builder would get (structured
                                  # attrs: the parsed JSON is in ``attrs``)
    attrs: Mapping[str, object] | None  # ``__structuredAttrs`` as parsed JSON, else None
    outputs: Mapping[str, str]    # output name -> physical path the step must create
    output_paths: Mapping[str, str]  # output name -> logical /nix/store path
    build_dir: str                # physical, empty, private scratch directory
    store: LocalStore             # read inputs with store.physical(logical_path)
    log: TextIO                   # the build log (what ``nixlite store log`` shows)
    cores: int                    # NIX_BUILD_CORES
    cancelled: threading.Event = field(default_factory=threading.Event)
                                  # set when the build is interrupted: long steps should stop
    activity: Activity = field(default_factory=detached)
                                  # the build's activity: a step may report its phase there
                                  # (``activity.phase("writing layer 2 of 5")``)


NativeStep = Callable[[StepContext], None]
NativeSteps = Mapping[str, NativeStep]   # "fetchurl" -> step, for builder "builtin:fetchurl"


class StepFailed(Exception):
    """A native step's failure: the message is shown like a failing builder's log tail."""

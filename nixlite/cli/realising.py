"""The realiser as commands set it up: the native steps nixlite knows and the options
``nixlite build`` takes; shared by ``build`` and by ``eval``/``instantiate`` (which
build what an evaluation imports)."""

from __future__ import annotations

import os


def native_steps():
    """The ``builtin:NAME`` builders the realiser knows."""
    from nixlite.build.fetchurl import fetchurl

    return {"fetchurl": fetchurl}


def make_realiser(store, args):
    from nixlite.build.realise import BuildOptions, Realiser
    from nixlite.errors import NixliteError

    jobs = args.max_jobs
    if jobs == "auto":
        jobs = os.cpu_count() or 1
    else:
        try:
            jobs = int(jobs)
        except ValueError:
            raise NixliteError(f"invalid value '{jobs}' for -j / --max-jobs") from None
    options = BuildOptions(jobs=jobs, cores=args.cores, keep_failed=args.keep_failed,
                           print_logs=args.print_build_logs, quiet=args.quiet, check=args.check)
    return Realiser(store, native_steps(), options)


def enable_import_from_derivation(state) -> None:
    """Let an evaluation outside ``nixlite build`` (``eval``, ``instantiate``) build the
    outputs it imports or reads, as Nix does, with nix-build's default options."""
    import argparse

    options = argparse.Namespace(max_jobs="1", cores=0, keep_failed=False,
                                 print_build_logs=False, quiet=False, check=False)
    realiser = make_realiser(state.io.store.local, options)
    state.io.realiser = lambda targets: realiser.realise(targets, announce=False)

"""The realiser as commands set it up: the native steps nixlite knows, the options
``nixlite build`` takes and the substituters the Nix settings name; shared by ``build`` and by ``eval``/``instantiate`` (which
build what an evaluation imports)."""

from __future__ import annotations

import os


def native_steps():
    """The ``builtin:NAME`` builders the realiser knows: Nix's ``fetchurl`` and the
    dockerTools image steps."""
    from nixlite.build.fetchurl import fetchurl
    from nixlite.image.steps import NATIVE_STEPS

    return {"fetchurl": fetchurl, **NATIVE_STEPS}


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
    from nixlite.cli.nix_settings import settings_from_args
    from nixlite.store.binary_cache import Substituter

    settings = settings_from_args(args)  # nix.conf, $NIX_CONFIG, --option and the flags
    options = BuildOptions(jobs=jobs, cores=args.cores, keep_failed=args.keep_failed,
                           check=args.check, fallback=settings.get_bool("fallback"))
    logger = getattr(args, "logger", None)  # the command's (nixlite.cli.logs)
    substituter = Substituter(settings, store.store_dir, logger=logger) if settings.substituters else None
    return Realiser(store, native_steps(), options, substituter=substituter, logger=logger)


def enable_import_from_derivation(state, args) -> None:
    """Let an evaluation outside ``nixlite build`` (``eval``, ``instantiate``) build (or
    substitute) the outputs it imports or reads, as Nix does, with nix-build's default
    options and the command line's Nix settings."""
    import argparse

    options = argparse.Namespace(**{**vars(args), "max_jobs": "1", "cores": 0, "keep_failed": False,
                                    "check": False})
    made = []  # the realiser, made (with its steps imported) only when something is built

    def realise(targets):
        from nixlite.cli import logs

        if not made:
            made.append(make_realiser(state.io.store.local, options))
        try:
            made[0].realise(targets, announce=False)
        finally:
            logs.clear()  # the evaluation's result may go to the terminal next

    state.io.realiser = realise

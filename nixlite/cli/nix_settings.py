"""Command-line flags that set Nix settings, shared by every command that substitutes or signs.

``add_arguments(parser)`` adds ``--option NAME VALUE`` (repeatable) and the
flags Nix derives from the settings nixlite uses (``--substituters LIST``,
``--trusted-public-keys LIST``, ``--require-sigs``/``--no-require-sigs``,
``--no-substitute``/``--offline``, ``--fallback``); ``settings_from_args(args)`` loads nix.conf
and ``$NIX_CONFIG`` and applies the flags on top, in command-line order for
``--option``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("Nix settings (also read from nix.conf and $NIX_CONFIG)")
    g.add_argument("--option", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="set the Nix setting NAME to VALUE")
    g.add_argument("--substituters", metavar="LIST", help="space-separated binary cache URLs")
    g.add_argument("--trusted-public-keys", metavar="LIST", help="space-separated keys 'name:base64'")
    g.add_argument("--require-sigs", dest="require_sigs", action="store_const", const="true",
                   help="accept only signed (or content-addressed) paths (default)")
    g.add_argument("--no-require-sigs", dest="require_sigs", action="store_const", const="false",
                   help="accept unsigned paths from substituters")
    g.add_argument("--fallback", dest="fallback", action="store_const", const="true",
                   help="build what the substituters fail to deliver")
    g.add_argument("--no-substitute", "--offline", dest="substitute", action="store_const", const="false",
                   help="do not use substituters")


def settings_from_args(args):
    from nixlite.store.settings import Settings

    settings = Settings.load()
    for name, value in getattr(args, "option", None) or []:
        settings.set(name, value)
    for name, attr in (("substituters", "substituters"), ("trusted-public-keys", "trusted_public_keys"),
                       ("require-sigs", "require_sigs"), ("substitute", "substitute"),
                       ("fallback", "fallback")):
        value = getattr(args, attr, None)
        if value is not None:
            settings.set(name, value)
    return settings

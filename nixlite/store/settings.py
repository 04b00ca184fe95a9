"""Nix's configuration settings that nixlite honours, read the way Nix reads them.

Sources, later ones winning (as in Nix): ``$NIX_CONF_DIR/nix.conf``
(``/etc/nix/nix.conf``), the user files (``$NIX_USER_CONF_FILES``, else
``nix/nix.conf`` under ``$XDG_CONFIG_DIRS`` then ``$XDG_CONFIG_HOME``),
``$NIX_CONFIG``, then command-line options (``--option NAME VALUE`` and the
flags that name a setting).  So a Nix user's set-up works unchanged.

nix.conf syntax: ``name = value`` lines, ``#`` comments, values split on
white space and re-joined by single spaces, ``include PATH`` (an error when
missing) and ``!include PATH`` (skipped when missing) relative to the
including file.  ``extra-NAME = …`` appends to a list setting; within one
file the plain settings apply before the ``extra-`` ones, as today's Nix does.

Settings nixlite does not use are kept (and ignored) without a warning: a
real nix.conf has many.
"""

from __future__ import annotations

import os

from nixlite.errors import NixliteError


class SettingsError(NixliteError):
    """A malformed nix.conf line or setting value."""


CACHE_NIXOS_ORG_KEY = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="

DEFAULTS: dict[str, str] = {
    "substituters": "https://cache.nixos.org/",
    "trusted-public-keys": CACHE_NIXOS_ORG_KEY,
    "require-sigs": "true",
    "substitute": "true",
    "fallback": "false",
    "connect-timeout": "0",
    "stalled-download-timeout": "300",
    "http-connections": "25",
}


def conf_dir(env) -> str:
    return env.get("NIX_CONF_DIR") or "/etc/nix"


def user_conf_files(env) -> list[str]:
    """Nix's user configuration files, highest priority first."""
    listed = env.get("NIX_USER_CONF_FILES")
    if listed:
        return [f for f in listed.split(":") if f]
    home = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    dirs = [home] + [d for d in (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") if d]
    return [os.path.join(d, "nix", "nix.conf") for d in dirs]


class Settings:
    """Raw setting values by name, with typed accessors for the ones nixlite uses."""

    def __init__(self) -> None:
        self.values: dict[str, str] = dict(DEFAULTS)

    @classmethod
    def load(cls, env=None) -> "Settings":
        """Nix's defaults overlaid with every configuration file and ``$NIX_CONFIG``."""
        env = os.environ if env is None else env
        s = cls()
        s.values["netrc-file"] = os.path.join(conf_dir(env), "netrc")
        s.apply_file(os.path.join(conf_dir(env), "nix.conf"))
        for f in reversed(user_conf_files(env)):
            s.apply_file(f)
        if env.get("NIX_CONFIG"):
            s.apply_text(env["NIX_CONFIG"], "NIX_CONFIG", base_dir=os.getcwd())
        return s

    # ----------------------------------------------------------------- input

    def set(self, name: str, value: str) -> None:
        """One setting, as ``--option NAME VALUE`` sets it (``extra-NAME`` appends)."""
        if name.startswith("extra-"):
            base = name[len("extra-"):]
            old = self.values.get(base, "")
            self.values[base] = f"{old} {value}".strip() if value.strip() else old
        else:
            self.values[name] = value

    def apply_file(self, path: str) -> None:
        """Apply a configuration file; one that does not exist changes nothing."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SettingsError(f"reading configuration file '{path}': {exc.strerror}") from None
        self.apply_text(text, path, base_dir=os.path.dirname(os.path.abspath(path)))

    def apply_text(self, text: str, where: str, base_dir: str) -> None:
        parsed: list[tuple[str, str]] = []
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            tokens = line.split()
            if not tokens:
                continue
            if tokens[0] in ("include", "!include"):
                if len(tokens) != 2:
                    raise SettingsError(f"illegal configuration line '{line}' in '{where}'")
                target = os.path.join(base_dir, tokens[1])
                if tokens[0] == "include" and not os.path.exists(target):
                    raise SettingsError(f"file '{target}' included from '{where}' not found")
                self.apply_file(target)
                continue
            if len(tokens) < 2 or tokens[1] != "=":
                raise SettingsError(f"illegal configuration line '{line}' in '{where}'")
            parsed.append((tokens[0], " ".join(tokens[2:])))
        for name, value in parsed:
            if not name.startswith("extra-"):
                self.set(name, value)
        for name, value in parsed:
            if name.startswith("extra-"):
                self.set(name, value)

    # ---------------------------------------------------------------- output

    def get_list(self, name: str) -> list[str]:
        return self.values.get(name, "").split()

    def get_bool(self, name: str) -> bool:
        value = self.values.get(name, "")
        if value in ("true", "false"):
            return value == "true"
        raise SettingsError(f"Boolean setting '{name}' has invalid value '{value}'")

    def get_int(self, name: str) -> int:
        value = self.values.get(name, "")
        try:
            return int(value)
        except ValueError:
            raise SettingsError(f"setting '{name}' has invalid value '{value}'") from None

    @property
    def substituters(self) -> list[str]:
        """Substituter URLs, or none when ``substitute = false`` (``--no-substitute``/``--offline``)."""
        return self.get_list("substituters") if self.get_bool("substitute") else []

    @property
    def trusted_public_keys(self) -> list[str]:
        return self.get_list("trusted-public-keys")

    @property
    def require_sigs(self) -> bool:
        return self.get_bool("require-sigs")

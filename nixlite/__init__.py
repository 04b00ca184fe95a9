"""nixlite: Nix without Nix, for container recipes."""

__version__ = "0.1.0"

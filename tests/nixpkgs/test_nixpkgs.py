"""A real nixpkgs evaluates unchanged, with the drvPaths Nix gives.

Evaluating it exercises what small cases miss: ``tryEval <nixpkgs-overlays>`` in
``impure.nix``, ``<nix/fetchurl.nix>`` in the stdenv bootstrap, the module system
(NixOS), and the derivation hashing of whole closures (a drvPath hashes its inputs'
.drv files, so one wrong byte anywhere below changes it)."""

from __future__ import annotations

import subprocess
import sys

import pytest


PACKAGES = """
  let pkgs = import <nixpkgs> { }; in {
    hello = pkgs.hello.drvPath;
    stdenv = pkgs.stdenv.drvPath;
    python3 = pkgs.python3.drvPath;
    dockerTools = builtins.mapAttrs (name: image: image.drvPath) pkgs.dockerTools.examples;
  }
"""

# The smallest NixOS system that evaluates: no boot loader, one file system.
NIXOS_SYSTEM = """
  (import <nixpkgs/nixos> {
    configuration = {
      boot.loader.grub.enable = false;
      fileSystems."/".device = "/dev/sda1";
    };
  }).system.drvPath
"""


def _same(ours, nix) -> None:
    assert nix.returncode == 0, nix.stderr
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == nix.stdout


@pytest.mark.nix
@pytest.mark.slow
def test_packages_have_nix_drv_paths(eval_both):
    ours, nix = eval_both(["-E", PACKAGES])
    _same(ours, nix)
    assert "docker-image-redis.tar.gz.drv" in ours.stdout  # every example is there


@pytest.mark.nix
@pytest.mark.slow
def test_nixos_system_has_nix_drv_path(eval_both):
    ours, nix = eval_both(["-E", NIXOS_SYSTEM])
    _same(ours, nix)
    assert "-nixos-system-nixos-" in ours.stdout


def test_lib_tests_pass(nixpkgs_tree):
    """nixpkgs' own library tests: the list of failed cases is empty."""
    ours = subprocess.run([sys.executable, "-m", "nixlite", "eval", "--strict",
                           str(nixpkgs_tree / "lib" / "tests" / "misc.nix")],
                          capture_output=True, text=True)
    assert (ours.returncode, ours.stdout, ours.stderr) == (0, "[ ]\n", "")

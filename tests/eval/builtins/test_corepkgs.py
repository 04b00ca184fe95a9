"""What a real nixpkgs needs from Nix itself: ``<nix/fetchurl.nix>`` (Nix's built-in
corepkgs, imported by the stdenv bootstrap) and search-path misses that ``tryEval``
catches (``impure.nix`` does ``try <nixpkgs-overlays> ""``)."""

from __future__ import annotations

import hashlib

import pytest

from nixlite.eval.state import EvalState

HASH = '"0000000000000000000000000000000000000000000000000000"'
FETCHES = [
    f'{{ url = "http://example.org/a/b.tar.gz"; sha256 = {HASH}; }}',
    f'{{ url = "http://example.org/b"; sha256 = {HASH}; executable = true; }}',
    f'{{ url = "http://example.org/c"; sha256 = {HASH}; unpack = true; name = "c-src"; }}',
    '{ url = "http://example.org/d"; hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; }',
    '{ url = "http://example.org/e"; md5 = "d41d8cd98f00b204e9800998ecf8427e"; system = "x"; }',
    '{ url = "http://example.org/f"; sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"; }',
    f'{{ url = "http://example.org/g"; outputHash = {HASH}; outputHashAlgo = "sha256"; sha256 = "x"; }}',
    f'{{ url = "http://example.org/h"; sha512 = "{hashlib.sha512().hexdigest()}"; md5 = "y"; }}',
]


@pytest.mark.nix
def test_fetchurl_makes_nix_derivations(nix_batch, nl_eval):
    exprs = [f"let d = import <nix/fetchurl.nix> {args}; in [ d.drvPath d.outPath ]" for args in FETCHES]
    exprs.append("<nix/fetchurl.nix>")
    nix = nix_batch(exprs)
    for expr in exprs:
        assert nix[expr].ok, nix[expr].err
        assert nl_eval(expr) == (True, nix[expr].out), expr


def test_fetchurl_takes_todays_arguments(nl_eval):
    """Today's file also takes ``impure`` (2.8's does not): an impure derivation, no hash."""
    ok, args = nl_eval("builtins.attrNames (builtins.functionArgs (import <nix/fetchurl.nix>))")
    assert ok and '"impure"' in args and '"url"' in args
    ok, env = nl_eval('(import <nix/fetchurl.nix> { url = "http://x/y"; impure = true; }).__impure or null')
    assert (ok, env) == (True, "true")


def test_search_path_entry_overrides_corepkgs(tmp_path):
    (tmp_path / "fetchurl.nix").write_text("args: args.url")
    state = EvalState(search_path=[f"nix={tmp_path}"], use_nix_path_env=False)
    assert state.eval_string('import <nix/fetchurl.nix> { url = "mine"; }') == "mine"


@pytest.mark.nix
def test_try_eval_catches_search_path_misses(nix_batch, nl_eval):
    exprs = ['builtins.tryEval <nixpkgs-overlays>', 'builtins.tryEval <nope/x.nix>',
             '(builtins.tryEval (import <nope>)).success']
    nix = nix_batch(exprs)
    for expr in exprs:
        assert nl_eval(expr) == (True, nix[expr].out)
    assert nl_eval("<nope>") == (
        False, "file 'nope' was not found in the Nix search path (add it using $NIX_PATH or -I)")

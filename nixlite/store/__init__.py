"""The store stage: hashes, NAR, store paths, derivations, the local store, fetchers.

Pure modules (the evaluator may import them):

* ``hashes``     — md5/sha1/sha256/sha512, base16/nix32/base64/SRI, Nix's hash parsing
* ``nar``        — NAR serialisation and hashing (streaming, filter, mirroring copy)
* ``paths``      — store dir (``NIX_STORE_DIR``), fingerprints, text/fixed/output paths, names
* ``derivation`` — the .drv model, ATerm writer/parser, hashDerivationModulo, 2.8 JSON

Stateful modules (reached from evaluation only through ``nixlite.eval.io``):

* ``local``   — ``LocalStore``: physical store, SQLite validity DB, atomic and group commits
* ``backend`` — ``StoreBackend``: what ``state.io.store`` offers the store builtins
* ``fetch``   — fetchurl / fetchTarball / fetchGit machinery
* ``binary_cache`` — Nix binary caches: narinfo, signatures, substitution, uploads
* ``settings`` — the Nix settings nixlite honours, from nix.conf / ``NIX_CONFIG`` / flags
"""

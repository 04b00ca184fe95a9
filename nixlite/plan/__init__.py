"""Build plans: a derivation graph written as a reviewable TOML (or JSON) document, and
built again without evaluating any Nix.

``nixlite.plan.write`` turns the ``.drv`` closure of some targets (already in the store)
into a plan; ``nixlite.plan.document`` reads, validates and serialises plans;
``nixlite.plan.load`` puts a plan's sources and derivations into a store, recomputing
every store path from the plan's fields.  The stage reads and writes the store only: it
evaluates nothing and builds nothing (``nixlite build --plan`` hands the derivations it
loads to the realiser).
"""

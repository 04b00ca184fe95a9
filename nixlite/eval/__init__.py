"""Lazy evaluation of Nix expressions (values, thunks, compiler, builtins, I/O).

Entry points (see ``nixlite.eval.api``): ``evaluate_file``, ``evaluate_string``.
"""

"""Realising derivations: the scheduler, the builder runner and native (``builtin:``) steps."""

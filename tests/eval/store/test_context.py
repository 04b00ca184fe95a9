"""Context builtins beyond the vectors, including today's addDrvOutputDependencies
(not in Nix 2.8; semantics from the current Nix manual)."""
import pytest

from nixlite.errors import NixliteError
from nixlite.eval.api import evaluate_string
from nixlite.eval.values import Attrs, CStr, force

D = 'd = derivation { name = "c"; system = "x"; builder = "/bin/sh"; outputs = [ "out" "dev" ]; };'


def to_py(v):
    v = force(v)
    if type(v) is Attrs:
        return {k: to_py(v[k]) for k in v}
    if type(v) is list:
        return [to_py(x) for x in v]
    if type(v) is CStr:
        return str.__str__(v)
    return v


def ev(body):
    return to_py(evaluate_string(f"let {D} in {body}", strict=True))


def test_add_drv_output_dependencies_round_trip(store):
    r = ev("let plain = builtins.unsafeDiscardOutputDependency d.drvPath; in "
           "[ (builtins.getContext plain) (builtins.getContext (builtins.addDrvOutputDependencies plain)) ]")
    drv = next(iter(r[0]))
    assert r[0] == {drv: {"path": True}}
    assert r[1] == {drv: {"allOutputs": True}}


@pytest.mark.parametrize("body, message", [
    ('builtins.addDrvOutputDependencies "${d}"', "can only act on derivations, not on a derivation output such as 'out'"),
    ('builtins.addDrvOutputDependencies "${d.drvPath}${d.dev}"', "must have exactly one element, but has 2"),
    ('builtins.addDrvOutputDependencies (builtins.toFile "f" "x")', "is not a derivation"),
])
def test_add_drv_output_dependencies_errors(store, body, message):
    with pytest.raises(NixliteError, match=message):
        ev(body)


def test_append_context_round_trips_get_context(store):
    r = ev('let s = "${d.drvPath} ${d.dev} ${builtins.toFile "f" "x"}"; '
           'c = builtins.getContext s; in builtins.getContext (builtins.appendContext "" c) == c')
    assert r is True


def test_append_context_rejects_non_derivations(store):
    with pytest.raises(NixliteError, match="Tried to add all-outputs context of .*-f, which is not a derivation"):
        ev('let f = builtins.toFile "f" "x"; in builtins.appendContext "" '
           '{ ${builtins.unsafeDiscardStringContext f} = { allOutputs = true; }; }')


def test_discard_output_dependency_keeps_other_context(store):
    r = ev('builtins.getContext (builtins.unsafeDiscardOutputDependency "${d.drvPath}${d.dev}")')
    (drv, info), = r.items()
    assert info == {"outputs": ["dev"], "path": True}

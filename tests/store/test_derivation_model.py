"""The .drv model against the vectors: parse → unparse is byte-exact, drvPath and
output paths are recomputed from the ATerms alone (hashDerivationModulo)."""
import json
import os
from pathlib import Path

import pytest

from nixlite.store.derivation import (
    Derivation,
    DerivationError,
    DrvHasher,
    DrvOutput,
    finalize_input_addressed,
    json_float_28,
    json_string_28,
    parse_derivation,
    quote,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "store-vectors.json").read_text())
DRVS = [c for c in VECTORS if c["kind"] == "derivation"]


def _loader(case):
    aterms = dict(case["aux"].get("input_drv_aterms", {}))
    aterms[case["expect"]["drvPath"]] = case["expect"]["drv_aterm"]

    def load(path):
        return parse_derivation(aterms[path], os.path.basename(path)[33:-4], path)

    return aterms, load


@pytest.mark.parametrize("case", DRVS, ids=lambda c: c["id"])
def test_aterm_roundtrip_and_paths(case):
    aterms, load = _loader(case)
    hasher = DrvHasher(load)
    for path, text in aterms.items():
        drv = load(path)
        assert drv.unparse() == text
        assert drv.drv_path() == path
        if not drv.is_fixed_output():
            expected_outputs = {k: v.path for k, v in drv.outputs.items()}
            finalize_input_addressed(drv, hasher)
            assert {k: v.path for k, v in drv.outputs.items()} == expected_outputs
            assert drv.unparse() == text
    top = load(case["expect"]["drvPath"])
    assert {k: v.path for k, v in top.outputs.items()} == case["expect"]["outPaths"]
    if "masked_aterm" in case["aux"]:
        masked = load(case["expect"]["drvPath"])
        for name in masked.outputs:
            masked.outputs[name] = DrvOutput("")
            masked.env[name] = ""
        replaced = {}
        for p, outs in masked.input_drvs.items():
            h = hasher.of_path(p)
            if isinstance(h, dict):
                replaced.setdefault(h["out"].hex(), set()).add("out")
            else:
                replaced.setdefault(h.hex(), set()).update(outs)
        assert masked.unparse(True, replaced) == case["aux"]["masked_aterm"]


def test_quote_escapes_only_what_nix_escapes():
    assert quote('a"b\\c\nd\re\tf\x01\x7fü') == '"a\\"b\\\\c\\nd\\re\\tf\x01\x7fü"'


def test_parse_rejects_garbage():
    with pytest.raises(DerivationError, match="expected string 'Derive"):
        parse_derivation("Nope()", "x")
    good = Derivation("x", {"out": DrvOutput("/nix/store/a-x")}, platform="s", builder="b").unparse()
    with pytest.raises(DerivationError, match="trailing data"):
        parse_derivation(good + " ", "x")
    assert parse_derivation(good, "x").unparse() == good


def test_json_28_writer():
    assert [json_float_28(x) for x in (1.5, 1 / 3, 1e20, 1e-7, 2.0)] == \
        ["1.5", "0.333333", "1e+20", "1e-07", "2"]
    assert json_string_28('q"\\\n\r\t\x01\x08é') == '"q\\"\\\\\\n\\r\\t\\u0001\\u0008é"'

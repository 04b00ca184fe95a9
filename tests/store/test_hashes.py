import pytest
from hypothesis import given, strategies as st

from nixlite.store.hashes import (
    ALGOS,
    BadHash,
    Hash,
    fold,
    hash_bytes,
    nixbase32_decode,
    nixbase32_encode,
    parse_hash,
    parse_hash_allow_empty,
)

import json
from pathlib import Path

VECTORS = json.loads((Path(__file__).parent / "vectors" / "store-vectors.json").read_text())


def load_vectors(kind):
    return [c for c in VECTORS if c["kind"] == kind]


@pytest.mark.parametrize("case", load_vectors("base32"), ids=lambda c: c["id"])
def test_encodings_match_nix(case):
    algo = case["input"]["algo"]
    h = hash_bytes(algo, case["input"]["string"].encode())
    e = case["expect"]
    assert h.hex() == e["base16"]
    assert h.base32() == e["base32"]
    assert len(h.base32()) == e["base32_len"]
    assert h.base64() == e["base64"]
    assert h.sri() == e["sri"]
    for form in (e["base16"], e["base16"].upper(), e["base32"], e["base64"]):
        assert parse_hash(form, algo) == h
        assert parse_hash(f"{algo}:{form}") == h
    assert parse_hash(e["sri"]) == h
    assert parse_hash(e["sri"], algo) == h


@pytest.mark.parametrize("case", load_vectors("fingerprint"), ids=lambda c: c["id"])
def test_fingerprint_fold(case):
    digest = hash_bytes("sha256", case["input"]["fingerprint"].encode()).digest
    assert digest.hex() == case["expect"]["sha256_hex"]
    folded = fold(digest)
    assert folded.hex() == case["expect"]["folded_hex"]
    assert nixbase32_encode(folded) == case["expect"]["hash_part"]


@given(st.sampled_from(sorted(ALGOS)), st.data())
def test_base32_roundtrip(algo, data):
    digest = data.draw(st.binary(min_size=ALGOS[algo], max_size=ALGOS[algo]))
    text = nixbase32_encode(digest)
    assert nixbase32_decode(text, len(digest)) == digest
    assert parse_hash(text, algo) == Hash(algo, digest)


def test_base32_rejects_excess_bits_and_bad_chars():
    # a 52-char sha256 must start with 0 or 1: "2…" overflows 256 bits
    with pytest.raises(BadHash, match="invalid base-32 hash"):
        parse_hash("2" + "0" * 51, "sha256")
    with pytest.raises(BadHash, match="invalid base-32 hash"):
        parse_hash("e" * 52, "sha256")  # 'e' is not in Nix's alphabet


@pytest.mark.parametrize(
    "text, algo, message",
    [
        ("abc", "sha256", "hash 'abc' has wrong length for hash type 'sha256'"),
        ("sha1:" + "0" * 64, "sha256", "should have type 'sha256'"),
        ("0" * 64, None, "does not include a type"),
        ("foo:abc", None, "unknown hash algorithm 'foo'"),
        ("g" * 64, "sha256", "invalid base-16 hash"),
        ("sha256-AAAA", None, "invalid SRI hash"),
    ],
)
def test_parse_errors(text, algo, message):
    with pytest.raises(BadHash, match=message):
        parse_hash(text, algo)


def test_empty_hash_means_zero():
    h, empty = parse_hash_allow_empty("", "sha256")
    assert empty and h.digest == bytes(32)
    assert h.sri() == "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    with pytest.raises(BadHash, match="empty hash requires explicit hash type"):
        parse_hash_allow_empty("", None)

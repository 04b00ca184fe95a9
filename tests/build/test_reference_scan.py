"""The reference scanner finds exactly the hash parts that occur in an output's NAR, wherever
the NAR's chunks happen to split them (checked against a window-by-window search)."""

from __future__ import annotations

import random

from nixlite.build.outputs import _ScanningSink, scan
from nixlite.store.hashes import NIXBASE32_ALPHABET
from nixlite.store.nar import nar_hash


def _hash_part(rng: random.Random) -> bytes:
    return "".join(rng.choice(NIXBASE32_ALPHABET) for _ in range(32)).encode()


def _every_window(data: bytes, wanted: dict[bytes, str]) -> set[str]:
    return {wanted[data[i:i + 32]] for i in range(len(data) - 31) if data[i:i + 32] in wanted}


def test_hash_parts_are_found_across_chunk_boundaries_and_inside_longer_runs():
    rng = random.Random(5)
    parts = [_hash_part(rng) for _ in range(12)]
    wanted = {p: f"/nix/store/{p.decode()}-dep" for p in parts[:8]}
    for trial in range(200):
        pieces = []
        for _ in range(rng.randint(1, 25)):
            kind = rng.random()
            if kind < 0.3:
                pieces.append(rng.choice(parts))  # wanted or not
            elif kind < 0.6:  # base32 around it: the part sits inside a longer run
                pieces.append("".join(rng.choice(NIXBASE32_ALPHABET)
                                      for _ in range(rng.randint(0, 70))).encode())
            else:
                pieces.append(rng.randbytes(rng.randint(0, 40)))
        data = b"".join(pieces)
        cuts = sorted(rng.sample(range(len(data) + 1), min(6, len(data) + 1)))
        sink = _ScanningSink(wanted)
        for start, end in zip([0] + cuts, cuts + [len(data)]):
            sink(data[start:end])
        assert sink.found == _every_window(data, wanted), trial
        assert sink.size == len(data)


def test_scan_of_a_file_names_the_paths_it_mentions_and_hashes_its_nar(tmp_path):
    """Big blocks are hashed in a helper thread while they are scanned: same NAR hash."""
    rng = random.Random(6)
    present, absent = _hash_part(rng), _hash_part(rng)
    out = tmp_path / "out"
    out.write_bytes(rng.randbytes(3_000_000) + b"/nix/store/" + present + b"-lib" + rng.randbytes(9))
    paths = [f"/nix/store/{p.decode()}-lib" for p in (present, absent)]
    nar, size, found = scan(str(out), paths)
    assert found == {paths[0]}
    assert (nar, size) == nar_hash(str(out))

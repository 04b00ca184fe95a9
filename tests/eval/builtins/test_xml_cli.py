"""``nixlite eval --xml`` on a file, byte for byte against nix-instantiate 2.8
(positions in files are printed the same way by 2.8 and today's Nix)."""

from __future__ import annotations

import subprocess

import pytest

from nixlite.cli import main

SOURCE = """{ a = 1; b = "x<&>\\"'\\n\\t"; c = [ 1.5 true null ./x.nix ];
  f = x: x; g = { y, z ? 1, ... }@w: y; h = {}: 1; i = builtins.map;
  j = {}; k = []; "a b" = 2; l = let v = 3; in v + 1; m = { n.o = "deep"; };
  drv = { type = "derivation"; drvPath = "/nix/store/x.drv"; outPath = "/nix/store/x"; me = 1; };
}
"""


@pytest.mark.nix
@pytest.mark.parametrize("flags", [["--strict"], [], ["--strict", "--no-location"], ["--no-location"]])
def test_xml_output_like_nix(flags, tmp_path, capsys, monkeypatch, nix_one):
    f = tmp_path / "x.nix"
    f.write_text(SOURCE)
    expected = subprocess.run(["nix-instantiate", "--eval", "--xml", *flags, str(f)],
                              capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "NIX_PATH": ""})
    assert expected.returncode == 0, expected.stderr
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["eval", "--xml", *flags, str(f)]) == 0
    assert capsys.readouterr().out == expected.stdout

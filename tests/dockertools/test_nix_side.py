"""pkgs.dockerTools evaluated: the attributes users read (imageName, imageTag, passthru),
argument errors worded as upstream's, and created = "now"."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stepkit import realise
from test_build_image import base_json

STUB = Path(__file__).parent / "nixpkgs"


def nixlite_eval(store, expr: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nixlite", "eval", "--strict", "--json", "-I",
                           f"nixpkgs={STUB}", "-E", f"let pkgs = import <nixpkgs> {{}}; in {expr}"],
                          capture_output=True, text=True, env={**os.environ, "NIXLITE_STORE": store.root})


def test_image_names_and_tags(store):
    proc = nixlite_eval(store, """
      let
        image = pkgs.dockerTools.buildImage { name = "My/App"; tag = "V1"; };
        untagged = pkgs.dockerTools.buildImage { name = "app"; };
        stream = pkgs.dockerTools.streamLayeredImage { name = "app"; };
      in {
        inherit (image) imageName imageTag;
        untagged = untagged.imageTag == builtins.substring 0 32 (baseNameOf untagged.outPath);
        stream = stream.imageTag == builtins.substring 0 32 (baseNameOf stream.conf.outPath);
        isExe = stream.isExe;
        names = map (d: d.name) [ image image.layer stream stream.conf stream.customisationLayer
          (pkgs.dockerTools.buildLayeredImage { name = "app"; compressor = "zstd"; })
          (pkgs.dockerTools.pullImage { imageName = "library/alpine:3"; imageDigest = "sha256:00";
                                        sha256 = "0000000000000000000000000000000000000000000000000000"; }) ];
      }""")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "imageName": "my/app", "imageTag": "v1", "untagged": True, "stream": True, "isExe": True,
        "names": ["docker-image-App.tar.gz", "docker-layer-App", "stream-app", "app-conf.json",
                  "app-customisation-layer", "app.tar.zst", "docker-image-library-alpine-3-latest.tar"]}


@pytest.mark.parametrize("expr, message", [
    ('pkgs.dockerTools.streamLayeredImage { name = "x"; maxLayers = 1; }',
     "the maxLayers argument of dockerTools.buildLayeredImage function must be greather than 1 "
     "(current value: 1)"),
    ('pkgs.dockerTools.pullImage { imageName = "a"; imageDigest = "sha256:0"; }',
     "dockerTools.pullImage: give exactly one of sha256 and hash"),
    ('pkgs.dockerTools.buildLayeredImage { name = "x"; compressor = "lz4"; }',
     "unknown compressor 'lz4'"),
])
def test_argument_errors(store, expr, message):
    proc = nixlite_eval(store, f"({expr}).drvPath")
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr


def test_created_now_is_the_build_time_in_utc(store):
    layer = realise(store, "nixlite-docker-layer", "docker-layer-now", {
        "name": "now", "baseJson": base_json(None, created="now"), "contents": []})
    image = realise(store, "nixlite-docker-image", "docker-image-now.tar.gz",
                    {"name": "now", "tag": "t", "layer": layer})
    layer_json = json.loads(open(store.physical(layer + "/json")).read())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", layer_json["created"])
    plain = subprocess.run(["pigz", "-dc", store.physical(image)], capture_output=True,
                           check=True).stdout
    config_name = [n for n in subprocess.run(["tar", "-tf", "-"], input=plain, capture_output=True,
                                             check=True).stdout.decode().split()
                   if n.endswith(".json") and "/" not in n and n != "manifest.json"][0]
    config = json.loads(subprocess.run(["tar", "-xOf", "-", config_name], input=plain,
                                       capture_output=True, check=True).stdout)
    assert config["created"] == layer_json["created"] == config["history"][0]["created"]

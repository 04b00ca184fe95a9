"""The seed's buildImage ``result`` script: the test oracle for buildImage's bytes, run with
the real tar, jq, jshon, sort/comm, sha256sum and pigz (by tests/image/test_legacy.py on a
tree of its own, by tests/dockertools/test_build_image.py over a nixlite store)."""

from __future__ import annotations

import subprocess

import pytest

# The seed's `result` derivation, lines as in ../shared/seed/dockertools-default.nix with the
# Nix interpolations turned into variables: $layer, $layerClosure, $baseJson, $fromImage,
# $fromImageName, $fromImageTag, $imageName, $imageTag.
SEED_RESULT = r'''
ls_tar() {
  for f in $(tar -tf $1 | xargs realpath -ms --relative-to=.); do
    if [[ "$f" != "." ]]; then
      echo "/$f"
    fi
  done
}
mkdir image
touch baseFiles
baseEnvs='[]'
if [[ -n "$fromImage" ]]; then
  tar -C image -xpf "$fromImage"
  cat ./image/manifest.json  | jq -r '.[0].Layers | .[]' > layer-list
  configName="$(cat ./image/manifest.json | jq -r '.[0].Config')"
  baseEnvs="$(cat "./image/$configName" | jq '.config.Env // []')"
  if [[ -n "$fromImageName" ]] && [[ -n "$fromImageTag" ]]; then
    parentID="$(
      cat "image/manifest.json" |
        jq -r '.[] | select(.RepoTags | contains([$desiredTag])) | rtrimstr(".json")' \
          --arg desiredTag "$fromImageName:$fromImageTag"
    )"
  else
    parentID="$(cat "image/manifest.json" | jq -r '.[0].Config | rtrimstr(".json")')"
  fi
  chmod a+w image image/*.json
  rm -f image/*.json
  for l in image/*/layer.tar; do
    ls_tar $l >> baseFiles
  done
else
  touch layer-list
fi
chmod -R ug+rw image
mkdir temp
cp $layer/* temp/
chmod ug+w temp/*
for dep in $(cat $layerClosure); do
  find $dep >> layerFiles
done
ls_tar temp/layer.tar >> baseFiles
if [ $(wc -l < $layerClosure) -gt 1 ] && [ $(grep -c -e "^/nix/store$" baseFiles) -eq 0 ]; then
  mkdir -p nix/store
  chmod -R 555 nix
  echo "./nix" >> layerFiles
  echo "./nix/store" >> layerFiles
fi
comm <(sort -n baseFiles|uniq) \
     <(sort -n layerFiles|uniq|grep -v $layer) -1 -3 > newFiles
tar -rpf temp/layer.tar --hard-dereference --sort=name --mtime="@$SOURCE_DATE_EPOCH" \
  --owner=0 --group=0 --no-recursion --files-from newFiles
if [[ -n "$parentID" ]]; then
  cat temp/json | jshon -s "$parentID" -i parent > tmpjson
  mv tmpjson temp/json
fi
layerID=$(sha256sum temp/json|cut -d ' ' -f 1)
size=$(stat --printf="%s" temp/layer.tar)
cat temp/json | jshon -s "$layerID" -i id -n $size -i Size > tmpjson
mv tmpjson temp/json
mv temp image/$layerID
(
  cat layer-list
  echo "$layerID/layer.tar"
) > layer-list.new
mv layer-list.new layer-list
imageJson=$(cat $baseJson | jq '.config.Env = $baseenv + .config.Env' --argjson baseenv "$baseEnvs")
imageJson=$(echo "$imageJson" | jq ". + {\"rootfs\": {\"diff_ids\": [], \"type\": \"layers\"}}")
manifestJson=$(jq -n "[{\"RepoTags\":[\"$imageName:$imageTag\"]}]")
for layerTar in $(cat ./layer-list); do
  layerChecksum=$(sha256sum image/$layerTar | cut -d ' ' -f1)
  imageJson=$(echo "$imageJson" | jq ".history |= . + [{\"created\": \"$(jq -r .created $baseJson)\"}]")
  imageJson=$(echo "$imageJson" | jq ".rootfs.diff_ids |= . + [\"sha256:$layerChecksum\"]")
  manifestJson=$(echo "$manifestJson" | jq ".[0].Layers |= . + [\"$layerTar\"]")
done
imageJsonChecksum=$(echo "$imageJson" | sha256sum | cut -d ' ' -f1)
echo "$imageJson" > "image/$imageJsonChecksum.json"
manifestJson=$(echo "$manifestJson" | jq ".[0].Config = \"$imageJsonChecksum.json\"")
echo "$manifestJson" > image/manifest.json
jshon -n object \
  -n object -s "$layerID" -i "$imageTag" \
  -i "$imageName" > image/repositories
chmod -R a-w image
tar -C image --hard-dereference --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --xform s:'^./':: -c . | pigz -nT > $out
'''

needs_seed_tools = pytest.mark.skipif(
    any(subprocess.run(["which", t], capture_output=True).returncode for t in ("jq", "jshon", "pigz")),
    reason="jq, jshon and pigz are needed for the seed's shell")



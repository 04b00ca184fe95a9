"""dockerTools' builders as native nixlite steps: ``builder = "builtin:NAME"`` runs
``NATIVE_STEPS[NAME]`` with a ``StepContext`` (see ``nixlite.build.native``).

The Nix side is ``nixlite/pkgs/dockertools/default.nix``; each step reads its arguments from
the derivation's ``nixliteArgs`` JSON attribute (``context.step_args``).
"""

from __future__ import annotations

from nixlite.build.native import NativeStep
from nixlite.image.steps.images import export_image, merge_images, pull_image, write_tree
from nixlite.image.steps.legacy_image import docker_image, docker_layer
from nixlite.image.steps.stream import (customisation_layer, layered_archive, stream_conf,
                                        stream_script)

NATIVE_STEPS: dict[str, NativeStep] = {
    "nixlite-docker-layer": docker_layer,              # buildImage's layer (mkPureLayer / runAsRoot)
    "nixlite-docker-image": docker_image,              # buildImage's image tarball
    "nixlite-customisation-layer": customisation_layer,  # streamLayeredImage's own layer
    "nixlite-stream-conf": stream_conf,                # streamLayeredImage's layering and tag
    "nixlite-stream-script": stream_script,            # streamLayeredImage's output executable
    "nixlite-layered-archive": layered_archive,        # buildLayeredImage's compressed archive
    "nixlite-pull-image": pull_image,                  # pullImage (fixed output)
    "nixlite-export-image": export_image,              # exportImage's root file system tar
    "nixlite-merge-images": merge_images,              # mergeImages
    "nixlite-tree": write_tree,                        # fakeNss, binSh, usrBinEnv, caCertificates
}

"""Container images: the ``Image``/``Layer`` model and its formats.

``model`` holds the model; ``tarwriter`` writes layer tars byte-identical to upstream's;
``gzip`` reproduces ``pigz -nT``; ``layering`` computes referencesByPopularity layers;
``docker_archive`` and ``oci_layout`` read and write the two on-disk formats; ``unpack``
extracts a root file system safely.
"""

from nixlite.image.model import Image, Layer

__all__ = ["Image", "Layer"]

"""Container images: the ``Image``/``Layer`` model and its formats.

- ``model``: ``Image`` and ``Layer`` (lazy, verified digests), media types, JSON styles.
- ``tarwriter`` / ``tarreader``: layer tars byte-identical to GNU tar and to upstream's
  stream script; a defensive reader for all three tar dialects.
- ``gzip`` / ``compression``: ``pigz -nT`` bytes; zstd; defensive, size-bounded decompression.
- ``layering``: referencesByPopularity and the maxLayers cut.
- ``stream_layered``: streamLayeredImage's image (config, headers, fromImage).
- ``legacy``: the seed's buildImage tarball (legacy layout, TarSum, jq/jshon JSON).
- ``docker_archive`` / ``oci_layout``: read and write the two on-disk formats.
- ``unpack``: extract a root file system safely (whiteouts, confined symlinks).
- ``registry``, ``skopeo_archive``: registry client, pull and push; skopeo's archive bytes.
- ``jsonstyle``: the JSON spellings digests depend on (Go, Python) and one defensive parser.
- ``files``: atomic writes (temporary name, then rename), chunked reads, tree removal.
"""

from nixlite.image.model import Image, Layer

__all__ = ["Image", "Layer"]

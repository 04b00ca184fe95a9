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
- ``transports``: all of the above by location (``docker://``, ``docker-archive:``, ``oci:``,
  ``-``): ``open_image``, ``write_image``, ``copy_image``, ``pull_to``, ``push_from`` and
  dockerTools' ``pull_image``; ``inspection``: what ``skopeo inspect`` prints;
  ``oci_config``: configs as the OCI image-spec structs re-encode them.
- ``jsonstyle``: the JSON spellings digests depend on (Go, Python, jq, jshon) and one
  defensive parser.
- ``files``: atomic writes under locked temporaries (stale ones cleared), chunked reads,
  tree removal, ``printable`` for outside text in messages.
- ``progress``: counts for long operations (shown by the CLI); ``threads``: worker threads
  that leave Ctrl-C to the main thread.

Readers take ``max_decompressed=`` (the most bytes a layer or archive may inflate to; 16 GiB
by default): there is no process-wide setting.  For a build step, e.g.::

    from nixlite.image.docker_archive import read_docker_archive
    from nixlite.image.oci_layout import write_oci_layout
    from nixlite.image.files import atomic_directory

    image = read_docker_archive("in.tar", max_decompressed=limit)
    atomic_directory(out, lambda path: write_oci_layout(image, path, tag="latest"))
"""

from nixlite.image.model import Image, Layer

__all__ = ["Image", "Layer"]

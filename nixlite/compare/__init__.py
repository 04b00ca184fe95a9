"""Comparing images and derivations: what ``nixlite compare`` reports.

``image`` compares two images (config fields, layers matched by content, files per layer
or over the merged file systems), reading each layer once as a stream; ``files`` holds the
file-level model; ``drv`` explains why two derivations differ, through their inputs;
``render`` turns either comparison into text or JSON.  This stage prints nothing.
"""

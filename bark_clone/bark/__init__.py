"""Bark itself: loading it and the one batched generation path everything that makes Bark speak goes through.

- ``generation``: ``load_bark`` (hub id or folder, dtype, offload), ``generate_batch`` / ``generate_batches`` with
  suno's settings, stock voices, Bark's codec.
- ``bootstrap``: a consistent prompt cut from Bark's own generation.
"""

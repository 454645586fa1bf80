"""Bark itself: loading it and the one batched generation path everything that makes Bark speak goes through.

- ``generation``: ``load_bark`` (hub id or folder, dtype, offload), ``generate_batch`` / ``generate_batches`` with
  suno's settings, stock voices, Bark's codec.
- ``bootstrap``: a consistent prompt cut from Bark's own generation.
- ``layouts``: what the coarse and fine loops read, rebuilt from a recording's streams (voice adapters' examples).
- ``voices``: voice folders (prompt plus LoRA adapters), merged into a Bark or switched per request.
"""

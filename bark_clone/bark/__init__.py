"""Bark itself: loading it and the one batched generation path everything that makes Bark speak goes through.

- ``generation``: ``load_bark`` (hub id or folder, dtype, offload), ``generate_rows`` (rows that each carry their own
  voice, one batch) and its wrappers, suno's settings, stock voices, Bark's codec.
- ``engine``: Bark's transformers run by our code on the loaded weights (SDPA, a preallocated cache, per-row masks).
- ``rows``: the three generation loops over rows of different voices and lengths, on the engine.
- ``bootstrap``: a consistent prompt cut from Bark's own generation.
- ``layouts``: what the coarse and fine loops read, rebuilt from a recording's streams (voice adapters' examples).
- ``voices``: voice folders (prompt plus LoRA adapters), merged into a Bark or worn for one job at a time.
- ``adapters``: a voice's LoRA adapters checked as data (configuration, weights against the stage), then attached.
"""

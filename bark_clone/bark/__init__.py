"""Bark itself: the one Bark object and the one batched generation path everything that makes Bark speak goes through.

- ``core``: ``Bark`` (the loaded model, processor, stage settings, precision and decoder: presets, the text check,
  ``decode``) and ``load_bark`` / ``open_bark`` (hub id or folder, dtype, offload, decoder).
- ``generation``: ``generate`` (rows that each carry their own voice, in batches) and ``speak``.
- ``sampling``: how a token is picked as a ``Sampling`` says (temperature, top-k, top-p), for all rows at once, each
  row from its own counter-based random stream.
- ``engine``: Bark's transformers run by our code on the loaded weights (SDPA, a preallocated cache, per-row masks).
- ``lora``: each row's LoRA adapters applied inside a shared batch (stacked, gathered per row, batched products).
- ``rows``: the three generation loops over rows of different voices and lengths, on the engine.
- ``bootstrap``: a consistent prompt cut from Bark's own generation.
- ``layouts``: what the coarse and fine loops read, rebuilt from a recording's streams (voice adapters' examples).
"""

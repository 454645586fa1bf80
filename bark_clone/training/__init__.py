"""Data and training for quantizers: datasets, generate-data, import-data, features, train- and evaluate-quantizer.

- ``dataset``: the dataset format (manifest plus parquet shards).
- ``texts``: the sentences generate-data has Bark speak (``texts/`` holds one file a language).
- ``generate``: generate-data: Bark's own tokens and audio, presets and texts.
- ``importer``: import-data: recordings with their tokens from elsewhere.
- ``features``: HuBERT features, computed once and cached per shard.
- ``quantizer``: train-quantizer and evaluate-quantizer on top of the pure-ML ``quantizer`` package.
- ``voice``: train-voice; ``voice_data`` (pieces and held-out split), ``voice_loss`` (the two stages' losses),
  ``voice_train`` (one stage's LoRA training), ``voice_folder`` (what it writes, its checkpoint).
"""

"""Data and training for quantizers: generate-data, import-data, features, train- and evaluate-quantizer (the dataset
format they share is ``bark_clone.datasets``; voice adapters train in ``bark_clone.voices``).

- ``texts``: the sentences generate-data has Bark speak (``texts/`` holds one file a language).
- ``generate``: generate-data: Bark's own tokens and audio, presets and texts.
- ``importer``: import-data: recordings with their tokens from elsewhere.
- ``features``: HuBERT features, computed once and cached per shard.
- ``quantizer``: train-quantizer and evaluate-quantizer on top of the pure-ML ``quantizer`` package.
"""

"""From a recording to a speaker prompt (make-speaker), below Bark itself.

- ``models``: loading HuBERT and EnCodec (hub id or folder, offline messages, the device), and the shared loader.
- ``quantizers``: quantizers by name or path, HuBERT features to Bark's semantic tokens.
- ``selection``: the recording's profile (one speaker, no music, no clipping) and the best windows.
- ``pipeline``: ``load_models``, ``analyse``, ``make_speaker``: the three streams from the same seconds of audio.
"""

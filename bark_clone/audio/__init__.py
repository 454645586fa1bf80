"""Sound in and out, and what listens to it: the lowest layer above the shared modules.

- ``sound``: read any recording libsndfile reads (header checked, bounded), downmix, resample (soxr), level, encode.
- ``speech``: silero's voice-activity detector, batched; speech segments and their seconds.
- ``speaker_encoder``: the GE2E speaker encoder (Resemblyzer's weights) and unit embeddings.
- ``joining``: chunks of speech joined with pauses and fades, never clipped.
- ``formats``: the output formats (WAV, FLAC, MP3, Opus, Ogg, PCM) in one registry, whole or streamed.
- ``overlap``: whether two recordings share audio (trimmed, re-encoded, at another gain): a consent cut from a sample.

Subpackages here hold no re-exports: importing one never loads more than the module asked for (start-up time).
"""

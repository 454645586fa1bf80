"""From a recording to the three streams of a speaker prompt: the building blocks of make-speaker (``clone``), the
server and train-voice, below Bark itself (models load from ``bark_clone.models``).

- ``format``: the speaker-prompt format (``SpeakerPrompt``), Bark's own checks and what Bark reads of a prompt.
- ``quantizers``: quantizers by name or path, HuBERT features to Bark's semantic tokens.
- ``selection``: the recording's profile (one speaker, no music, no clipping) and the best windows.
- ``pipeline``: ``load_models``, ``analyse``, ``make_speaker``: the three streams from the same seconds of audio.
"""

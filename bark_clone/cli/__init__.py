"""The command line: a thin click layer over the library, the top of the layers.

Each command family has its module, imported only when its command runs:

- ``main``: the ``bark-clone`` entry point and the group ``cli``; one-line errors.
- ``speaker``: make-speaker, inspect, decode.
- ``speak``: speak.
- ``evaluate``: evaluate.
- ``search``: search.
- ``serve``: serve (and on Ray Serve).
- ``training``: generate-data, import-data, train-quantizer, evaluate-quantizer.
- ``voice``: train-voice.
- ``benchmark``: benchmark (Seed-TTS-eval and LibriSpeech-PC lists).
- ``options``: the options several commands share, their defaults read from the option objects.
"""

from .main import cli, main

__all__ = ["cli", "main"]

#!/usr/bin/env python
"""The measurement behind the long-text guard's default --min-similarity (0.75).

GE2E speaker similarity (Resemblyzer's weights, our encoder) of known voices against ARCTIC a0007:
  - 2 s pieces of a0007 itself (the same speaker, the same recording);
  - one espeak-ng voice across three different texts (the same speaker, different utterances);
  - seven espeak-ng voices against a0007 (other speakers).
A threshold must sit above the other-speaker scores and below the same-speaker ones.

    python scripts/guard_threshold.py        # needs espeak-ng (scripts/test.sh installs it)
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the espeak-ng helper lives with the tests

TEXTS = ["The museum opens at nine, but the best exhibits are upstairs.",
         "Could you pass me the salt and the pepper, please?",
         "My brother repairs old radios in a workshop behind his house."]
VOICES = ["en-us+f3", "en-us+m1", "en-gb", "en-us+m3", "en-us+f1", "en-029", "en-gb-scotland"]


def main() -> None:
    from recordings import espeak

    from bark_clone.audio.speaker_encoder import embed, load_voice_encoder
    from bark_clone.constants import DEFAULT_MIN_SIMILARITY

    encoder = load_voice_encoder()
    samples, rate = soundfile.read(REPO / "tests" / "data" / "arctic_a0007.wav", dtype="float32")
    reference = embed(encoder, samples)
    pieces = [float(embed(encoder, samples[int(s * rate): int((s + 2.0) * rate)]) @ reference)
              for s in (0.3, 0.8, 1.3, 1.8)]
    same_voice, other_voices = [], []
    for voice in VOICES:
        embeddings = [embed(encoder, espeak(text, voice)) for text in TEXTS]
        other_voices += [float(embedding @ reference) for embedding in embeddings]
        same_voice += [float(a @ b) for a, b in itertools.combinations(embeddings, 2)]
    print(f"a0007 pieces vs a0007:          {min(pieces):.3f} .. {max(pieces):.3f}")
    print(f"one espeak voice, other texts:  {min(same_voice):.3f} .. {max(same_voice):.3f}")
    print(f"other voices vs a0007:          {min(other_voices):.3f} .. {max(other_voices):.3f}")
    low, high = max(other_voices), min(min(same_voice), min(pieces))
    print(f"gap: {low:.3f} .. {high:.3f}; default --min-similarity {DEFAULT_MIN_SIMILARITY} "
          f"{'lies in it' if low < DEFAULT_MIN_SIMILARITY < high else 'LIES OUTSIDE IT'}")
    sys.exit(0 if low < DEFAULT_MIN_SIMILARITY < high else 1)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()

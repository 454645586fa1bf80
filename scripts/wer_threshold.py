#!/usr/bin/env python
"""The measurement behind the words check's default --max-wer.

No Whisper weights can be downloaded where bark-clone is developed, so this measures with the recognizer that can:
pocketsphinx (its wheel carries an English model), on espeak-ng speech of English chunk-sized texts (ARCTIC-like
sentences packed to 8-12 s, Bark's chunk size), in four voices:
  - on script: the chunk spoken as written; its WER is the recognizer's own error;
  - off script: Bark's reported failures, made on purpose: a clause skipped (the last quarter of the words), a
    phrase repeated (a quarter of the words said twice), or other words said (another chunk's text).
The threshold must sit above the on-script error rates and below the off-script ones. A better recognizer (Whisper)
makes fewer errors on script, so the same threshold is, if anything, conservative there.

    pip install pocketsphinx && python scripts/wer_threshold.py      # also needs espeak-ng
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the espeak-ng helper lives with the tests

VOICES = ["en-us", "en-us+f3", "en-gb", "en-us+m3"]
N_TEXTS = 12


def chunk_texts() -> list[str]:
    from bark_clone.speaking.chunking import plan_chunks

    lines = (REPO / "bark_clone" / "training" / "texts" / "en.txt").read_text(encoding="utf-8").split("\n")
    return [chunk.strip() for chunk in plan_chunks(" ".join(lines[:200]), "en", 10.0)][:N_TEXTS]


def off_script(text: str, other: str) -> dict[str, str]:
    words = text.split()
    quarter = max(2, len(words) // 4)
    return {"skipped": " ".join(words[:-quarter]),
            "repeated": " ".join(words[:quarter] + words[:quarter] + words[quarter:]),
            "other words": other}


def transcribe(decoder, audio_16k: np.ndarray) -> str:
    pcm = (np.clip(audio_16k, -1, 1) * 32767).astype(np.int16).tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return decoder.hyp().hypstr if decoder.hyp() else ""


def main() -> None:
    from pocketsphinx import Decoder
    from recordings import espeak

    from bark_clone.constants import DEFAULT_MAX_WER
    from bark_clone.speaking.words import error_rate

    decoder = Decoder(loglevel="FATAL")
    texts = chunk_texts()
    rates: dict[str, list[float]] = {"on script": [], "skipped": [], "repeated": [], "other words": []}
    for index, text in enumerate(texts):
        for voice in VOICES:
            rates["on script"].append(error_rate(text, transcribe(decoder, espeak(text, voice)), "en"))
            for kind, said in off_script(text, texts[(index + 1) % len(texts)]).items():
                rates[kind].append(error_rate(text, transcribe(decoder, espeak(said, voice)), "en"))
        print(f"{index + 1}/{len(texts)} texts", file=sys.stderr, flush=True)
    for kind, values in rates.items():
        values = np.array(values)
        print(f"{kind:12s} n={len(values):3d}  min {values.min():.3f}  p10 {np.percentile(values, 10):.3f}  "
              f"median {np.median(values):.3f}  p90 {np.percentile(values, 90):.3f}  max {values.max():.3f}")
    on, off = np.array(rates["on script"]), np.concatenate([rates[kind] for kind in rates if kind != "on script"])
    print(f"default --max-wer {DEFAULT_MAX_WER}: on-script chunks flagged {np.mean(on > DEFAULT_MAX_WER):.1%}, "
          f"off-script chunks caught {np.mean(off > DEFAULT_MAX_WER):.1%}")


if __name__ == "__main__":
    main()

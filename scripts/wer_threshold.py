#!/usr/bin/env python
"""The measurements behind the words check's default --max-wer.

1. What Bark's reported failures cost in WER, heard by a perfect recognizer: every English chunk of 12+ words the
   chunker makes from bark_clone/training/texts/en.txt (12 s chunks), said with its last clause skipped, cut off
   at 70 % of its words, with its first five words said twice, or with one word mumbled (not a failure worth a
   retry). No recognizer is needed for this part.
2. What a recognizer adds on speech said right: no Whisper weights can be downloaded where bark-clone is developed,
   so this part uses the recognizer whose weights come in its wheel (pocketsphinx, English) on the real speech at
   hand (CMU ARCTIC a0007, 11 words, with its transcript), as recorded and degraded the ways a generation is
   (speed +-8 %, noise at 30, 20 and 12 dB SNR, narrow band), and the same audio with words skipped or repeated.
   Skipped when pocketsphinx is not installed.
The threshold must sit above what the recognizer gets wrong on its own and below the failures.

    python scripts/wer_threshold.py                 # part 1
    pip install pocketsphinx && python scripts/wer_threshold.py   # and part 2
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "tests" / "data" / "arctic_a0007.wav"
TEXT = "And you always want to see it in the superlative degree."
SPEECH = (0.35, 3.55)  # seconds of the clip that hold the words


def degradations(audio: np.ndarray, rate: int) -> dict[str, np.ndarray]:
    import soxr

    rng = np.random.default_rng(0)
    out = {}
    for speed, snr, narrow in itertools.product((0.92, 1.0, 1.08), (None, 30, 20, 12), (False, True)):
        clip = soxr.resample(audio, rate, rate / speed).astype(np.float32)  # faster or slower, pitch with it
        if narrow:
            clip = soxr.resample(soxr.resample(clip, rate, 8000), 8000, rate).astype(np.float32)
        if snr is not None:
            power = np.mean(clip**2)
            clip = clip + rng.normal(0, np.sqrt(power / 10 ** (snr / 10)), len(clip)).astype(np.float32)
        out[f"speed {speed} snr {snr} {'narrow' if narrow else 'wide'}"] = clip
    return out


def failures(audio: np.ndarray, rate: int) -> dict[str, np.ndarray]:
    start, end = (int(second * rate) for second in SPEECH)
    span = end - start
    lead, speech, tail = audio[:start], audio[start:end], audio[end:]
    quarter, half = span // 4, span // 2
    return {"last quarter skipped": np.concatenate([lead, speech[:-quarter], tail]),
            "last half skipped": np.concatenate([lead, speech[:-half], tail]),
            "first quarter twice": np.concatenate([lead, speech[:quarter], speech, tail]),
            "middle dropped": np.concatenate([lead, speech[:quarter], speech[2 * quarter:], tail])}


def transcribe(decoder, audio_16k: np.ndarray) -> str:
    pcm = (np.clip(audio_16k, -1, 1) * 32767).astype(np.int16).tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return decoder.hyp().hypstr if decoder.hyp() else ""


def text_failures(text: str) -> dict[str, str]:
    words = text.split()
    clauses = re.split(r"(?<=[,;:.!?])\s+", text)
    return {"last clause skipped": " ".join(clauses[:-1]) if len(clauses) > 1 else " ".join(words[:-len(words) // 4]),
            "cut off at 70 %": " ".join(words[: int(len(words) * 0.7)]),
            "5 words said twice": " ".join(words[:5] + words),
            "one word mumbled": " ".join(words[: len(words) // 2] + words[len(words) // 2 + 1:])}


def show(rates: dict[str, list[float]]) -> None:
    for kind, values in rates.items():
        values = np.array(values)
        print(f"  {kind:22s} n={len(values):3d}  min {values.min():.3f}  p10 {np.percentile(values, 10):.3f}  "
              f"median {np.median(values):.3f}  p90 {np.percentile(values, 90):.3f}  max {values.max():.3f}")


def perfect_recognizer() -> None:
    from bark_clone.speaking.chunking import plan_chunks
    from bark_clone.speaking.words import error_rate

    text = " ".join((REPO / "bark_clone" / "training" / "texts" / "en.txt").read_text(encoding="utf-8").split())
    chunks = [chunk.strip() for chunk in plan_chunks(text, "en", 12.0) if len(chunk.split()) >= 12]
    rates: dict[str, list[float]] = {}
    for chunk in chunks:
        for kind, said in text_failures(chunk).items():
            rates.setdefault(kind, []).append(error_rate(chunk, said, "en"))
    print(f"1. failures heard by a perfect recognizer ({len(chunks)} chunks, median "
          f"{np.median([len(chunk.split()) for chunk in chunks]):.0f} words):")
    show(rates)


def main() -> None:
    sys.path.insert(0, str(REPO))
    from bark_clone.constants import DEFAULT_MAX_WER
    from bark_clone.speaking.words import error_rate

    perfect_recognizer()
    try:
        from pocketsphinx import Decoder
    except ImportError:
        print("2. skipped: pip install pocketsphinx")
        return

    decoder = Decoder(loglevel="FATAL")
    audio, rate = soundfile.read(CLIP, dtype="float32")
    kinds = {"on script": audio, **failures(audio, rate)}
    rates: dict[str, list[float]] = {}
    for kind, clip in kinds.items():
        rates[kind] = [error_rate(TEXT, transcribe(decoder, degraded), "en")
                       for degraded in degradations(clip, rate).values()]
    print("2. pocketsphinx on ARCTIC a0007, clean and degraded:")
    show(rates)
    on = np.array(rates["on script"])
    off = np.concatenate([rates[kind] for kind in rates if kind != "on script"])
    print(f"default --max-wer {DEFAULT_MAX_WER}: on-script clips flagged {np.mean(on > DEFAULT_MAX_WER):.1%}, "
          f"off-script clips caught {np.mean(off > DEFAULT_MAX_WER):.1%}")


if __name__ == "__main__":
    main()

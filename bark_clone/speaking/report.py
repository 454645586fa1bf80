"""What a long-form job reports: every chunk's tries (speaker similarity, flags, transcript and error rate), the
kept one's seed and duration, for scripts every line, and the totals."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from ..constants import CODEC_SAMPLE_RATE


def chunk_row(index: int, chunk) -> dict[str, Any]:
    """One chunk: its kept try (seed, similarity, flags, transcript, wer) and every try."""
    best = chunk.best
    return {"index": index, "text": chunk.text.strip(), "seed": best.seed, "tries": len(chunk.attempts),
            "similarity": round(best.similarity, 4),
            "similarities": [round(attempt.similarity, 4) for attempt in chunk.attempts],
            "transcript": best.transcript, "wer": None if best.wer is None else round(best.wer, 4),
            "attempts": [attempt.described() for attempt in chunk.attempts],
            "duration": round(len(best.audio) / CODEC_SAMPLE_RATE, 3), "flags": list(best.flags),
            "passed": best.passed}


def line_rows(chunks, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A script's lines, in order: who says it (as the script names them), the text, and its chunks' indices."""
    lines: dict[int, dict[str, Any]] = {}
    for chunk, row in zip(chunks, rows):
        line = lines.setdefault(chunk.line, {"line": chunk.line, "speaker": chunk.speaker.name, "texts": [],
                                             "chunks": []})
        line["texts"].append(row["text"])
        line["chunks"].append(row["index"])
    return [{"line": line["line"], "speaker": line["speaker"], "text": " ".join(line.pop("texts")),
             "chunks": line["chunks"]} for line in lines.values()]


def long_form_report(chunks, job, audio: np.ndarray, gain_db: float, elapsed: float,
                     script: bool = False) -> dict[str, Any]:
    """What happened to every chunk, and overall (``script``: also who said each line)."""
    rows = [chunk_row(index, chunk) for index, chunk in enumerate(chunks)]
    similarities = [row["similarity"] for row in rows]
    rates = [row["wer"] for row in rows if row["wer"] is not None]
    speakers = {chunk.speaker.name: chunk.speaker.reference for chunk in chunks}
    report = {"chunks": rows, "mean_similarity": round(float(np.mean(similarities)), 4),
              "min_similarity": round(float(np.min(similarities)), 4),
              "words_checked": job.words is not None,
              "max_wer_seen": round(max(rates), 4) if rates else None,
              "duration": round(len(audio) / CODEC_SAMPLE_RATE, 3),
              "elapsed_seconds": round(elapsed, 2), "retried": sum(row["tries"] > 1 for row in rows),
              "flagged": sum(not row["passed"] for row in rows), "gain_db": round(gain_db, 2),
              "sample_rate": CODEC_SAMPLE_RATE,
              "settings": asdict(job.settings)}
    if script:
        for chunk, row in zip(chunks, rows):
            row.update(line=chunk.line, speaker=chunk.speaker.name)
        report["lines"] = line_rows(chunks, rows)
        report["references"] = {name: {"kind": ref.kind, "detail": ref.detail} for name, ref in speakers.items()}
    else:
        reference = chunks[0].speaker.reference
        report["reference"] = {"kind": reference.kind, "detail": reference.detail}
    return report

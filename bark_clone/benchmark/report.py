"""The benchmark's report: one row per system (WER mean, SIM mean with a 95 % bootstrap interval, rows scored and
failed with why), the meters named in every table, a per-utterance CSV, a plot, and the published numbers we cite
in a separate, labelled table (never mixed with ours)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

# Seed-TTS-eval test-en, as published in CosyVoice 2 (arXiv:2412.10117), Table 6: WER with Whisper-large-v3, SIM
# ("SS") with a WavLM-based speaker-verification model (the ECAPA-TDNN on WavLM-large of seed-tts-eval)
PUBLISHED_SOURCE = ("CosyVoice 2 (arXiv:2412.10117), Table 6, Seed-TTS-eval test-en; WER: Whisper-large-v3; SIM: "
                    "WavLM-large speaker verification (seed-tts-eval's ECAPA-TDNN head)")
PUBLISHED = (("Seed-TTS", 2.25, 0.762), ("MaskGCT", 2.62, 0.714), ("E2 TTS (32 NFE)", 2.19, 0.710),
             ("F5-TTS (32 NFE)", 1.83, 0.647), ("CosyVoice", 4.29, 0.609), ("CosyVoice 2", 2.57, 0.652))
COLUMNS = ("utt", "system", "speaker", "wer", "sim_o", "sim_r", "ge2e", "seconds", "ended", "transcript", "failed")


def bootstrap_interval(values: list[float], resamples: int, seed: int = 0) -> tuple[float, float] | None:
    """The 95 % percentile-bootstrap interval of the mean (scipy), None without values."""
    if not values:
        return None
    if len(values) == 1 or np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    from scipy.stats import bootstrap

    result = bootstrap((np.asarray(values, float),), np.mean, n_resamples=resamples, confidence_level=0.95,
                       method="percentile", random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summary(system: str, results: list[dict | None], resamples: int, seed: int) -> dict[str, Any]:
    """One system's row: means over the rows it scored; WER in percent, as the papers print it."""
    scored = [result for result in results if result is not None and "failed" not in result]
    failed = Counter(result["failed"] for result in results if result is not None and "failed" in result)
    row: dict[str, Any] = {"system": system, "rows_scored": len(scored), "rows_failed": sum(failed.values()),
                           "failures": dict(failed.most_common())}
    wers = [100 * result["wer"] for result in scored if result.get("wer") is not None]
    row["wer_percent"] = round(float(np.mean(wers)), 2) if wers else None
    row["wer_percent_interval"] = [round(value, 2) for value in bootstrap_interval(wers, resamples, seed) or []]
    for key in ("sim_o", "sim_r", "ge2e"):
        values = [result[key] for result in scored if result.get(key) is not None]
        row[key] = round(float(np.mean(values)), 4) if values else None
        row[f"{key}_interval"] = [round(value, 4) for value in bootstrap_interval(values, resamples, seed) or []]
    return row


def utterance_csv(results: dict[str, list[dict | None]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for system, rows in results.items():
        for result in rows:
            if result is not None:
                writer.writerow({**result, "system": system})
    return buffer.getvalue().encode("utf-8")


def interval(row: dict[str, Any], key: str) -> str:
    value, bounds = row.get(key), row.get(f"{key}_interval") or []
    if value is None:
        return "-"
    digits = 2 if key == "wer_percent" else 3
    return f"{value:.{digits}f} [{bounds[0]:.{digits}f}, {bounds[1]:.{digits}f}]"


def markdown(report: dict[str, Any]) -> str:
    meters = report["meters"]
    lines = [f"# Benchmark: {report['list']}", "",
             f"{report['rows']} rows; Bark {report['bark']}; seed {report['seed']}. Means with 95 % bootstrap "
             f"intervals ({report['resamples']} resamples).", "",
             f"WER % by **{meters['wer']}** (Seed-TTS-eval's normalisation, jiwer); SIM-o and SIM-r by **"
             f"{meters['sim']}** (cosine, against the prompt and against the target's own recording); GE2E by "
             f"{meters['ge2e']}. {meters['note']}", "",
             "| system | WER % | SIM-o | SIM-r | GE2E | scored | failed |", "|---|---|---|---|---|---|---|"]
    for row in report["systems"]:
        lines.append(f"| {row['system']} | {interval(row, 'wer_percent')} | {interval(row, 'sim_o')} | "
                     f"{interval(row, 'sim_r')} | {interval(row, 'ge2e')} | {row['rows_scored']} | "
                     f"{row['rows_failed']} |")
    failures = [(row["system"], reason, count) for row in report["systems"]
                for reason, count in row["failures"].items()]
    if failures:
        lines += ["", "Failed rows:", *[f"- {system}: {count} x {reason}" for system, reason, count in failures]]
    lines += ["", "## Published numbers (not ours: other meters, other machines)", "",
              f"Source: {report['published']['source']}.", "", "| system | WER % | SIM |", "|---|---|---|",
              *[f"| {name} | {wer:.2f} | {sim:.3f} |" for name, wer, sim in report["published"]["rows"]], ""]
    return "\n".join(lines)


def plot_png(rows: list[dict[str, Any]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..files import figure_png

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    names = [row["system"] for row in rows]
    left.bar(names, [row["sim_o"] or 0 for row in rows], color="tab:blue")
    left.set_title("SIM-o (higher is better)")
    right.bar(names, [row["wer_percent"] or 0 for row in rows], color="tab:red")
    right.set_title("WER % (lower is better)")
    for axis in (left, right):
        axis.tick_params(axis="x", labelrotation=20)
    figure.tight_layout()
    return figure_png(figure)


def write_report(out: Path, request, rows, results: dict[str, list[dict | None]], meters) -> dict[str, Any]:
    from ..files import json_bytes, write_files_atomically

    report = {"list": str(request.list_path), "rows": len(rows), "bark": request.bark.source, "seed": request.seed,
              "resamples": request.resamples,
              "meters": {"wer": meters.wer_model, "sim": meters.sim_model, "ge2e": "Resemblyzer's GE2E",
                         "note": "This SIM is not the papers' SIM (WavLM-large with UniSpeech's ECAPA-TDNN head): "
                                 "compare our systems with each other, and with published SIM only loosely."},
              "systems": [summary(system, system_results, request.resamples, request.seed)
                          for system, system_results in results.items()],
              "published": {"source": PUBLISHED_SOURCE, "rows": [list(row) for row in PUBLISHED]}}
    write_files_atomically({out / "report.json": json_bytes(report), out / "report.md": markdown(report).encode(),
                            out / "utterances.csv": utterance_csv(results),
                            out / "report.png": plot_png(report["systems"])}, force=True)
    return report

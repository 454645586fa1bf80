"""The evaluate report as files a person reads: report.json, a Markdown table and a bar chart, best first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..files import figure_png, json_bytes, write_files_atomically


def ranked_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every prompt and baseline row, best score first."""
    return sorted(report["prompts"] + report["baselines"], key=lambda entry: entry["score"], reverse=True)


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a readable Markdown table, best score first."""
    rows = ranked_rows(report)
    lines = ["# bark-clone evaluation", "",
             f"Target: {', '.join(report['target']['files'])} ({report['target']['speech_seconds']} s of speech). "
             f"Bark: `{report['bark']}`, {len(report['sentences'])} held-out sentences, seed {report['seed']}.", "",
             "| name | kind | score | target similarity | self similarity | feature similarity |",
             "|---|---|---:|---:|---:|---:|"]
    for entry in rows:
        lines.append(f"| {entry['name']} | {entry['kind']} | {entry['score']:.3f} | {entry['target_similarity']:.3f}"
                     f" | {entry['self_similarity']:.3f} | {entry['feature_similarity']:.3f} |")
    lines += ["", "Score: weighted harmonic mean of target (0.48), self (0.5) and feature (0.02) similarity, as "
              "KVoiceWalk scores voices. Generated audio is in `wavs/`."]
    lines += [f"\nNote: {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def plot_scores(report: dict[str, Any]) -> bytes:
    """A PNG bar chart of every entry's score and similarities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ranked_rows(report)
    keys = ("score", "target_similarity", "self_similarity", "feature_similarity")
    figure, axis = plt.subplots(figsize=(max(6.0, 1.6 * len(rows) + 2), 4.5))
    width = 0.8 / len(keys)
    for offset, key in enumerate(keys):
        axis.bar(np.arange(len(rows)) + offset * width, [entry[key] for entry in rows], width,
                 label=key.replace("_", " "))
    axis.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, [entry["name"] for entry in rows], rotation=20,
                    ha="right")
    axis.set(ylabel="similarity", title="clone quality (higher is better)")
    axis.legend(fontsize=8)
    return figure_png(figure)


def write_report(out: Path, report: dict[str, Any]) -> None:
    """report.json, report.md and scores.png, atomically."""
    write_files_atomically({out / "report.json": json_bytes(report), out / "report.md": markdown_table(report).encode(),
                            out / "scores.png": plot_scores(report)}, force=True)

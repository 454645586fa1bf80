"""bark-clone evaluate: score prompts against a target voice, next to baselines, in a JSON report, a table and a plot."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .audio import wav_bytes
from .bark import load_bark
from .constants import CODEC_SAMPLE_RATE, DEFAULT_BARK, DEFAULT_ENCODEC, DEFAULT_HUBERT, DEFAULT_MAX_SECONDS
from .errors import UserError
from .evaluation import (EVALUATION_SENTENCES, nearest_preset, speak_and_score, target_from_recordings,
                         transcript_prompt)
from .files import json_bytes, write_files_atomically
from .models import encodec_encode, load_encodec, load_hubert, resolve_device
from .prompt import SpeakerPrompt
from .voice import load_voice_encoder


@dataclass
class EvaluateRequest:
    """bark-clone evaluate's options, one to one."""

    speakers: list[Path]
    targets: list[Path]
    out: Path
    bark: str = DEFAULT_BARK
    sentences: int = 5
    transcript: str | None = None
    quantizers: list[str] = field(default_factory=list)
    language: str = "en"
    hubert: str = DEFAULT_HUBERT
    encodec: str = DEFAULT_ENCODEC
    max_seconds: float = DEFAULT_MAX_SECONDS
    device: str = "auto"
    seed: int = 0
    force: bool = False


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise UserError(f"{out} already exists and is not empty; pass --force to write into it")
    if not out.parent.is_dir():
        raise UserError(f"folder {out.parent} does not exist")
    out.mkdir(exist_ok=True)


def run_evaluation(request: EvaluateRequest) -> dict[str, Any]:
    """Every prompt and baseline speaks the same sentences with the same seed; returns the report."""
    from .pipeline import Models, analyse, choose_windows, cut_window, prompt_from_window
    from .quantizers import load_quantizer
    from .speech import load_vad

    if not 1 <= request.sentences <= len(EVALUATION_SENTENCES):
        raise UserError(f"--sentences must lie in 1..{len(EVALUATION_SENTENCES)}")
    names = [Path(path).stem for path in request.speakers]
    if len(set(names)) != len(names):
        raise UserError("two speaker prompts share a file name; rename one so the report can tell them apart")
    prompts = [SpeakerPrompt.load(path) for path in request.speakers]
    device = resolve_device(request.device)
    vad, encoder = load_vad(), load_voice_encoder(device)
    recordings = []
    for path in request.targets:
        try:
            recordings.append(analyse(path, vad))
        except UserError as error:
            raise UserError(f"target {path}: {error}") from None
    target = target_from_recordings(recordings, encoder)
    _check_out(Path(request.out), request.force)
    bark = load_bark(request.bark, device)
    sentences = EVALUATION_SENTENCES[: request.sentences]
    out = Path(request.out)

    from tqdm import tqdm

    total = len(prompts) + len(request.quantizers) + bool(request.transcript) + 1
    bar = tqdm(total=total, unit="voice", desc="evaluate")

    def entry(name: str, kind: str, voice, **extra) -> dict[str, Any]:
        bar.set_postfix_str(name[:30])
        scores, generations = speak_and_score(bark, voice, sentences, target, encoder, request.seed)
        bar.update()
        folder = out / "wavs" / name.replace("/", "_").replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"{index + 1:02d}.wav" for index in range(len(generations))]
        write_files_atomically({path: wav_bytes(audio, CODEC_SAMPLE_RATE) for path, audio in zip(paths, generations)},
                               force=True)
        return {"name": name, "kind": kind, **{k: round(v, 4) for k, v in scores.items()},
                "wavs": [str(path.relative_to(out)) for path in paths], **extra}

    report: dict[str, Any] = {
        "tool": {"name": "bark-clone", "version": __version__},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "target": {"files": [str(path) for path in request.targets], "speech_seconds": round(target.speech_seconds, 2)},
        "bark": request.bark, "sentences": sentences, "seed": request.seed, "notes": [],
        "prompts": [entry(name, "prompt", prompt, path=str(path))
                    for name, prompt, path in zip(names, prompts, request.speakers)],
        "baselines": [],
    }
    if request.quantizers or request.transcript:
        # one window for every baseline, chosen as make-speaker would: they differ only in what they do with it
        best = choose_windows(recordings, encoder, request.max_seconds)[0]
        cut = cut_window(recordings[best.source], best.start, best.end)
        window = [round(cut.start, 3), round(cut.end, 3)]
        hubert = load_hubert(request.hubert, device) if request.quantizers else None
        codec = load_encodec(request.encodec, device)
        for name in request.quantizers:
            models = Models(hubert, codec, load_quantizer(name, hubert.model.config.hidden_size, device), vad, encoder)
            report["baselines"].append(entry(f"quantizer {name}", "quantizer", prompt_from_window(cut, models),
                                             window=window))
        if request.transcript:
            prompt = transcript_prompt(bark, request.transcript, encodec_encode(codec, cut.samples_24k))
            report["baselines"].append(entry("method 1 (transcript)", "method 1", prompt, window=window))
    if not request.transcript:
        report["notes"].append("method 1 (semantic tokens from the transcript) needs --transcript")
    presets = _presets(bark, request.language)
    if presets:
        name, similarity = nearest_preset(bark, presets, target, encoder)
        report["baselines"].append(entry(f"nearest preset {name}", "preset", name,
                                         preset_similarity=round(similarity, 4)))
    else:
        report["notes"].append(f"the Bark model has no stock voices for language {request.language!r}")
    bar.close()
    write_report(out, report)
    return report


def _presets(bark, language: str) -> list[str]:
    from .generate import language_presets

    try:
        return language_presets(bark, language)
    except UserError:
        return []


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a readable Markdown table, best score first."""
    rows = sorted(report["prompts"] + report["baselines"], key=lambda entry: entry["score"], reverse=True)
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
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(report["prompts"] + report["baselines"], key=lambda entry: entry["score"], reverse=True)
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
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def write_report(out: Path, report: dict[str, Any]) -> None:
    """report.json, report.md and scores.png, atomically."""
    write_files_atomically({out / "report.json": json_bytes(report), out / "report.md": markdown_table(report).encode(),
                            out / "scores.png": plot_scores(report)}, force=True)

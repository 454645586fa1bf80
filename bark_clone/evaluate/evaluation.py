"""bark-clone evaluate: every prompt and baseline speaks the same held-out sentences with the same seed, and each
is scored against the target voice (see ``scoring``); ``report`` writes the results."""

from __future__ import annotations

import datetime
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.sound import resample, wav_bytes
from ..audio.speaker_encoder import embed
from ..bark.core import open_bark
from ..bark.generation import semantic_tokens
from ..constants import CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE, VERSION
from ..errors import UserError
from ..files import write_files_atomically
from ..options import DEFAULT_SAMPLING, Sampling
from ..progress import progress_bar
from ..prompting.format import SpeakerPrompt
from ..requests import EvaluateRequest
from ..voices.folder import open_speaker
from ..voices.switch import VoiceSwitch
from .report import write_report
from .scoring import Target, score_generations, target_from_recordings

EVALUATION_SENTENCES = [  # held out: none of them is in the built-in training texts
    "I think we should leave a little earlier tomorrow, just in case the roads are busy.",
    "The museum opens at nine, but the best exhibits are upstairs.",
    "Honestly, that was the strangest phone call I have had all year.",
    "Could you pass me the salt and the pepper, please?",
    "My brother repairs old radios in a workshop behind his house.",
    "We watched the storm roll in from the porch, drinking hot tea.",
    "It takes about twenty minutes to walk from the station to the harbour.",
    "She finally finished the painting she had started three summers ago.",
    "If the printer jams again, just switch it off and on.",
    "The kids want pancakes for breakfast, with far too much syrup.",
    "After the concert we talked for hours about the last song.",
    "Remember to lock the back door before you go to bed.",
]


def score_voices(bark, voices: list[SpeakerPrompt | str | None], sentences: list[str], target: Target, encoder,
                 seed: int = 0, batch_size: int | None = None,
                 sampling: Sampling = DEFAULT_SAMPLING) -> list[tuple[dict[str, float], list[np.ndarray]]]:
    """Bark speaks ``sentences`` in every voice, all voices in one batch of rows (``batch_size`` rows a generation,
    all by default); sentence ``j`` is seeded ``seed + j`` in every voice, so each voice hears what it would alone.
    Returns each voice's scores and generations (24 kHz)."""
    from ..bark.generation import generate

    rows = [(sentence, voice) for voice in voices for sentence in sentences]
    seeds = [seed + index for _ in voices for index in range(len(sentences))]
    audio = [generation.audio for generation in generate(bark, rows, sampling, seeds, batch_size)]
    pieces = [audio[number * len(sentences): (number + 1) * len(sentences)] for number in range(len(voices))]
    return [(score_generations(generations, target, encoder), generations) for generations in pieces]


def preset_similarity(bark, name: str, target: Target, encoder) -> float:
    """How close a stock voice's own prompt audio (decoded by Bark's decoder) is to the target."""
    (audio,) = bark.decode([bark.preset(name)["fine_prompt"]])
    clip = resample(audio, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE)
    return float(embed(encoder, clip) @ target.embedding)


def nearest_preset(bark, presets: list[str], target: Target, encoder) -> tuple[str, float]:
    """The stock voice whose own prompt audio is closest to the target, and its similarity."""
    similarity, name = max((preset_similarity(bark, name, target, encoder), name) for name in presets)
    return name, similarity


def transcript_prompt(bark, transcript: str, fine_codes: np.ndarray) -> SpeakerPrompt:
    """"Method 1", the recipe bark-clone replaces: semantic tokens generated from the transcript by Bark's text
    model, codes from the audio. The streams then describe different utterances (and lengths); nothing checks it."""
    import torch

    with torch.inference_mode():
        ((tokens, _),) = semantic_tokens(bark, [transcript], [None])
    if len(tokens) == 0:
        tokens = np.zeros(1, dtype=np.int64)
    fine = np.asarray(fine_codes, dtype=np.int64)
    return SpeakerPrompt(tokens, fine[:2].copy(), fine)


REPORT_CONTENTS = ("report.md", "scores.png", "wavs")  # beside report.json, what evaluate writes


def check_out(out: Path, force: bool) -> None:
    """The report folder may be new or empty; an earlier report (and nothing else) needs ``--force``."""
    from ..files import check_folder_output, holds_only

    check_folder_output(out, force, lambda folder: holds_only(folder, "report.json", REPORT_CONTENTS), "report")
    try:  # an existing folder is probed with a real write, so a read-only place fails before Bark runs
        if out.is_dir():
            with tempfile.TemporaryFile(dir=out):
                pass
    except OSError as error:
        raise UserError(f"cannot write the report into {out}: {error.strerror or error}") from None


def write_wavs(out: Path, name: str, generations: list[np.ndarray]) -> list[str]:
    """The generations as ``wavs/<name>/01.wav`` ..., written atomically; their paths relative to ``out``."""
    folder = out / "wavs" / name.replace("/", "_").replace(" ", "_")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{index + 1:02d}.wav" for index in range(len(generations))]
    write_files_atomically({path: wav_bytes(audio, CODEC_SAMPLE_RATE) for path, audio in zip(paths, generations)},
                           force=True)
    return [str(path.relative_to(out)) for path in paths]


@dataclass
class Session:
    """What every entry of one evaluation shares: Bark, the encoder, the target, the sentences and the seed."""

    bark: Any
    encoder: Any
    target: Target
    sentences: list[str]
    seed: int
    out: Path
    batch_size: int | None = None
    sampling: Sampling = DEFAULT_SAMPLING
    bar: Any = None


@dataclass
class Entry:
    """A report row to be: its voice (a prompt, a preset's name), the voice folder whose adapters it wears (or
    None), and its fields; ``row`` once spoken and scored."""

    name: str
    kind: str
    voice: Any
    wearing: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    row: dict[str, Any] | None = None


def planned(name: str, kind: str, voice, wearing=None, **extra) -> Entry:
    return Entry(name, kind, voice, wearing, extra)


def speak_entries(session: Session, switch, entries: list[Entry]) -> None:
    """Every entry speaks the sentences, all in one batch of rows: each row wears its own entry's adapters (or
    none) inside the engine."""
    results = score_voices(switch.bark, [switch.worn(entry.wearing, entry.voice) for entry in entries],
                           session.sentences, session.target, session.encoder, session.seed, session.batch_size,
                           session.sampling)
    for entry, (scores, generations) in zip(entries, results):
        entry.row = {"name": entry.name, "kind": entry.kind,
                     **{key: round(value, 4) for key, value in scores.items()},
                     "wavs": write_wavs(session.out, entry.name, generations), **entry.extra}
        if session.bar is not None:
            session.bar.update()


def baseline_rows(session: Session, request: EvaluateRequest, recordings, vad, device) -> list[Entry]:
    """Each ``--quantizer``'s prompt and method 1, all from the one window make-speaker would choose."""
    from ..models.codecs import encodec_encode, load_hubert
    from ..prompting.pipeline import Models, choose_windows, cut_window, prompt_from_window
    from ..prompting.quantizers import load_quantizer

    if not request.quantizers and not request.transcript:
        return []
    best = choose_windows(recordings, session.encoder, request.max_seconds)[0]
    cut = cut_window(recordings[best.source], best.start, best.end)
    window = [round(cut.start, 3), round(cut.end, 3)]
    hubert = load_hubert(request.hubert, device) if request.quantizers else None
    codec = session.bark.codec  # Bark's own EnCodec: no second model to download and hold
    rows = []
    for name in request.quantizers:
        models = Models(hubert, codec, load_quantizer(name, hubert.model.config.hidden_size, device), vad,
                        session.encoder)
        rows.append(planned(f"quantizer {name}", "quantizer", prompt_from_window(cut, models), window=window))
    if request.transcript:
        prompt = transcript_prompt(session.bark, request.transcript, encodec_encode(codec, cut.samples_24k))
        rows.append(planned("method 1 (transcript)", "method 1", prompt, window=window))
    return rows


def load_targets(paths: list[Path], vad) -> list:
    """The target recordings, analysed; an unusable one is named in the error."""
    from ..prompting.pipeline import analyse

    recordings = []
    for path in paths:
        try:
            recordings.append(analyse(path, vad))
        except UserError as error:
            raise UserError(f"target {path}: {error}") from None
    return recordings


def run_evaluation(request: EvaluateRequest) -> dict[str, Any]:
    """Every prompt and baseline speaks the same sentences with the same seed; writes and returns the report."""
    from ..audio.speaker_encoder import load_voice_encoder
    from ..audio.speech import load_vad
    from ..models.loading import resolve_device

    if not 1 <= request.sentences <= len(EVALUATION_SENTENCES):
        raise UserError(f"--sentences must lie in 1..{len(EVALUATION_SENTENCES)}")
    names = [Path(path).name if Path(path).is_dir() else Path(path).stem for path in request.speakers]
    if len(set(names)) != len(names):
        raise UserError("two speaker prompts share a file name; rename one so the report can tell them apart")
    out = Path(request.out)
    check_out(out, request.force)
    speakers = [open_speaker(path) for path in request.speakers]  # prompts, or voice folders with adapters
    device = resolve_device(request.bark.device)
    vad, encoder = load_vad(), load_voice_encoder(device)
    recordings = load_targets(request.targets, vad)
    target = target_from_recordings(recordings, encoder)
    out.mkdir(exist_ok=True)  # made only now: refused targets leave nothing behind
    bark = open_bark(request.bark, device)
    session = Session(bark, encoder, target, EVALUATION_SENTENCES[: request.sentences], request.seed, out,
                      request.batch_size, request.sampling)
    voices = sum(voice is not None for _, _, voice in speakers)
    session.bar = progress_bar(total=len(speakers) + voices + len(request.quantizers) + bool(request.transcript) + 1,
                               unit="voice", desc="evaluate")
    switch = VoiceSwitch(bark)  # one Bark: each row wears its own adapters, or none
    report: dict[str, Any] = {
        "tool": {"name": "bark-clone", "version": VERSION},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "target": {"files": [str(path) for path in request.targets], "speech_seconds": round(target.speech_seconds, 2)},
        "bark": request.bark.source, **request.bark.audio_identity(), **request.sampling.identity(),
        "sentences": session.sentences, "seed": request.seed,
        "batch_size": request.batch_size,
        "notes": [] if request.transcript else ["method 1 (semantic tokens from the transcript) needs --transcript"],
    }
    prompts = [entry for name, speaker, path in zip(names, speakers, request.speakers)
               for entry in speaker_rows(name, speaker, path)]
    with switch.wearing(None):
        baselines = baseline_rows(session, request, recordings, vad, device) + preset_rows(session, report,
                                                                                             request.language)
    speak_entries(session, switch, prompts + baselines)  # all voices x sentences in one batch, adapters apart
    report["prompts"], report["baselines"] = [entry.row for entry in prompts], [entry.row for entry in baselines]
    session.bar.close()
    write_report(out, report)
    return report


def speaker_rows(name: str, speaker, path) -> list[Entry]:
    """A prompt's row; for a voice folder two rows side by side: its prompt alone, and its prompt with its adapters
    (the measurement that says whether the adapters beat in-context cloning)."""
    prompt, _, voice = speaker
    rows = [planned(name if voice is None else f"{name} (prompt only)", "prompt", prompt, path=str(path))]
    if voice is not None:
        rows.append(planned(f"{name} (prompt + adapters)", "voice", prompt, voice, path=str(path),
                            adapters=list(voice.stages)))
    return rows


def preset_rows(session: Session, report: dict[str, Any], language: str) -> list[Entry]:
    """The stock voice nearest the target, as a baseline (a note when the model has none)."""
    presets = session.bark.presets(language)
    if not presets:
        report["notes"].append(f"the Bark model has no stock voices for language {language!r}")
        return []
    name, similarity = nearest_preset(session.bark, presets, session.target, session.encoder)
    return [planned(f"nearest preset {name}", "preset", name, preset_similarity=round(similarity, 4))]

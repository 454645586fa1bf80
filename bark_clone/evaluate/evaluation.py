"""bark-clone evaluate: every prompt and baseline speaks the same held-out sentences with the same seed, and each
is scored against the target voice (see ``scoring``); ``report`` writes the results."""

from __future__ import annotations

import datetime
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.sound import resample, wav_bytes
from ..audio.speaker_encoder import embed
from ..bark.generation import (
    generate,
    language_presets,
    load_bark,
    sampling_for,
    semantic_tokens,
    stage_configs,
)
from ..bark.voices import VoiceSwitch, open_speaker
from ..constants import CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE, VERSION
from ..errors import UserError
from ..files import write_files_atomically
from ..progress import progress_bar
from ..prompt import SpeakerPrompt
from ..requests import EvaluateRequest
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


def speak_and_score(bark, voice: SpeakerPrompt | str | None, sentences: list[str], target: Target, encoder,
                    seed: int = 0, batch_size: int | None = None) -> tuple[dict[str, float], list[np.ndarray]]:
    """Bark speaks ``sentences`` in ``voice`` (``batch_size`` a generation, all by default); returns the scores and
    the generations (24 kHz)."""
    generations = generate(bark, sentences, voice, seed=seed, batch_size=batch_size)
    return score_generations(generations, target, encoder), generations


def preset_similarity(bark, name: str, target: Target, encoder) -> float:
    """How close a stock voice's own prompt audio (decoded with Bark's codec) is to the target."""
    import torch

    history = bark.processor("x", voice_preset=name)["history_prompt"]
    with torch.inference_mode():
        audio = bark.model.codec_decode(history["fine_prompt"][None].to(bark.device))[0]
    clip = resample(audio.float().cpu().numpy().reshape(-1), CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE)
    return float(embed(encoder, clip) @ target.embedding)


def nearest_preset(bark, presets: list[str], target: Target, encoder) -> tuple[str, float]:
    """The stock voice whose own prompt audio is closest to the target, and its similarity."""
    similarity, name = max((preset_similarity(bark, name, target, encoder), name) for name in presets)
    return name, similarity


def transcript_prompt(bark, transcript: str, fine_codes: np.ndarray) -> SpeakerPrompt:
    """"Method 1", the recipe bark-clone replaces: semantic tokens generated from the transcript by Bark's text
    model, codes from the audio. The streams then describe different utterances (and lengths); nothing checks it."""
    import torch

    configs = stage_configs(bark)
    with torch.inference_mode():
        ((tokens, _),) = semantic_tokens(bark, [transcript], [None], configs, sampling_for(configs))
    if len(tokens) == 0:
        tokens = np.zeros(1, dtype=np.int64)
    fine = np.asarray(fine_codes, dtype=np.int64)
    return SpeakerPrompt(tokens, fine[:2].copy(), fine)


def check_out(out: Path, force: bool) -> None:
    """The report folder may be new or empty; anything else needs ``--force``."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise UserError(f"{out} already exists and is not empty; pass --force to write into it")
    if not out.parent.is_dir():
        raise UserError(f"folder {out.parent} does not exist")
    try:  # created now and probed with a real write, so a read-only place fails before Bark runs
        out.mkdir(exist_ok=True)
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
    bar: Any = None


def score_voice(session: Session, name: str, kind: str, voice, **extra) -> dict[str, Any]:
    """One report row: Bark speaks the sentences in ``voice``, the row holds the scores and the wavs' paths."""
    if session.bar is not None:
        session.bar.set_postfix_str(name[:30])
    scores, generations = speak_and_score(session.bark, voice, session.sentences, session.target, session.encoder,
                                          session.seed, session.batch_size)
    if session.bar is not None:
        session.bar.update()
    return {"name": name, "kind": kind, **{key: round(value, 4) for key, value in scores.items()},
            "wavs": write_wavs(session.out, name, generations), **extra}


def baseline_rows(session: Session, request: EvaluateRequest, recordings, vad, device) -> list[dict[str, Any]]:
    """Each ``--quantizer``'s prompt and method 1, all from the one window make-speaker would choose."""
    from ..bark.generation import bark_codec
    from ..clone.models import encodec_encode, load_hubert
    from ..clone.pipeline import Models, choose_windows, cut_window, prompt_from_window
    from ..clone.quantizers import load_quantizer

    if not request.quantizers and not request.transcript:
        return []
    best = choose_windows(recordings, session.encoder, request.max_seconds)[0]
    cut = cut_window(recordings[best.source], best.start, best.end)
    window = [round(cut.start, 3), round(cut.end, 3)]
    hubert = load_hubert(request.hubert, device) if request.quantizers else None
    codec = bark_codec(session.bark)  # Bark's own EnCodec: no second model to download and hold
    rows = []
    for name in request.quantizers:
        models = Models(hubert, codec, load_quantizer(name, hubert.model.config.hidden_size, device), vad,
                        session.encoder)
        rows.append(score_voice(session, f"quantizer {name}", "quantizer", prompt_from_window(cut, models),
                                window=window))
    if request.transcript:
        prompt = transcript_prompt(session.bark, request.transcript, encodec_encode(codec, cut.samples_24k))
        rows.append(score_voice(session, "method 1 (transcript)", "method 1", prompt, window=window))
    return rows


def load_targets(paths: list[Path], vad) -> list:
    """The target recordings, analysed; an unusable one is named in the error."""
    from ..clone.pipeline import analyse

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
    from ..clone.models import resolve_device

    if not 1 <= request.sentences <= len(EVALUATION_SENTENCES):
        raise UserError(f"--sentences must lie in 1..{len(EVALUATION_SENTENCES)}")
    names = [Path(path).name if Path(path).is_dir() else Path(path).stem for path in request.speakers]
    if len(set(names)) != len(names):
        raise UserError("two speaker prompts share a file name; rename one so the report can tell them apart")
    speakers = [open_speaker(path) for path in request.speakers]  # prompts, or voice folders with adapters
    device = resolve_device(request.device)
    vad, encoder = load_vad(), load_voice_encoder(device)
    recordings = load_targets(request.targets, vad)
    target = target_from_recordings(recordings, encoder)
    out = Path(request.out)
    check_out(out, request.force)
    bark = load_bark(request.bark, device, request.dtype, request.offload)
    session = Session(bark, encoder, target, EVALUATION_SENTENCES[: request.sentences], request.seed, out,
                      request.batch_size)
    voices = sum(voice is not None for _, _, voice in speakers)
    session.bar = progress_bar(total=len(speakers) + voices + len(request.quantizers) + bool(request.transcript) + 1,
                               unit="voice", desc="evaluate")
    switch = VoiceSwitch(bark)  # one Bark: each row wears its own adapters, or none
    report: dict[str, Any] = {
        "tool": {"name": "bark-clone", "version": VERSION},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "target": {"files": [str(path) for path in request.targets], "speech_seconds": round(target.speech_seconds, 2)},
        "bark": request.bark, "sentences": session.sentences, "seed": request.seed,
        "batch_size": request.batch_size,
        "notes": [] if request.transcript else ["method 1 (semantic tokens from the transcript) needs --transcript"],
        "prompts": [row for name, speaker, path in zip(names, speakers, request.speakers)
                    for row in speaker_rows(session, switch, name, speaker, path)],
    }
    with switch.wearing(None):
        report["baselines"] = baseline_rows(session, request, recordings, vad, device)
        add_preset_row(session, report, request.language)
    session.bar.close()
    write_report(out, report)
    return report


def speaker_rows(session: Session, switch, name: str, speaker, path) -> list[dict[str, Any]]:
    """A prompt's row; for a voice folder two rows side by side: its prompt alone, and its prompt with its adapters
    (the measurement that says whether the adapters beat in-context cloning)."""
    prompt, _, voice = speaker
    with switch.wearing(None):
        rows = [score_voice(session, name if voice is None else f"{name} (prompt only)", "prompt", prompt,
                            path=str(path))]
    if voice is not None:
        with switch.wearing(voice):
            rows.append(score_voice(session, f"{name} (prompt + adapters)", "voice", prompt, path=str(path),
                                    adapters=list(voice.stages)))
    return rows


def add_preset_row(session: Session, report: dict[str, Any], language: str) -> None:
    """The stock voice nearest the target, as a baseline (a note when the model has none)."""
    presets = language_presets(session.bark, language)
    if presets:
        name, similarity = nearest_preset(session.bark, presets, session.target, session.encoder)
        report["baselines"].append(score_voice(session, f"nearest preset {name}", "preset", name,
                                               preset_similarity=round(similarity, 4)))
    else:
        report["notes"].append(f"the Bark model has no stock voices for language {language!r}")

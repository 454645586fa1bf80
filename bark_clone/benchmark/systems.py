"""The systems the benchmark compares, each a column: how each turns a row's prompt recording into what Bark speaks
with. ``prompt`` is make-speaker's pipeline; ``method 1`` the recipe it replaces (semantic tokens generated from
the prompt's transcript, codes from its audio); ``preset`` the stock voice nearest the prompt; on request
``search`` (a searched prompt) and ``voice`` (adapters trained on the speaker's other recordings in the list)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from .lists import Row

BASE_SYSTEMS = ("prompt", "method 1", "preset")


@dataclass
class Voiced:
    """What a system speaks a row with: a prompt (or a stock preset's name), a voice folder's adapters or None."""

    prompt: Any
    voice: Any = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What building every system's voice shares: Bark, the make-speaker models, the settings, the output folder,
    and each row's analysed prompt recording (decoded once)."""

    bark: Any
    models: Any
    request: Any
    out: Path
    rows: list[Row]
    switch: Any = None  # the one Bark, worn by each batch's voice (voices.switch.VoiceSwitch)
    recordings: dict[str, Any] = field(default_factory=dict)
    voices: dict[str, Any] = field(default_factory=dict)
    embeddings: dict[Path, Any] = field(default_factory=dict)

    def recording(self, row: Row):
        from ..prompting.pipeline import analyse

        if row.utt not in self.recordings:
            try:
                self.recordings[row.utt] = analyse(row.prompt_wav, self.models.vad, label=row.utt)
            except UserError as error:
                raise UserError(f"row {row.utt}: its prompt {row.prompt_wav.name}: {error}") from None
        return self.recordings[row.utt]


def our_prompt(row: Row, context: Context) -> Voiced:
    from ..prompting.pipeline import make_speakers

    speaker = make_speakers([context.recording(row)], context.models, context.request.max_seconds)[0]
    return Voiced(speaker.prompt, detail={"window": speaker.sidecar["window"]})


def method_one(row: Row, context: Context) -> Voiced:
    """Semantic tokens from the prompt's transcript (Bark's text model), codes from its audio (Bark's codec)."""
    from ..evaluate.evaluation import transcript_prompt
    from ..models.codecs import encodec_encode
    from ..prompting.pipeline import cut_window

    recording = context.recording(row)
    cut = cut_window(recording, 0.0, min(recording.audio.duration, context.request.max_seconds))
    codes = encodec_encode(context.bark.codec, cut.samples_24k)
    return Voiced(transcript_prompt(context.bark, row.prompt_text, codes))


def nearest_stock(row: Row, context: Context) -> Voiced:
    from ..evaluate.evaluation import nearest_preset
    from ..evaluate.scoring import target_from_recordings

    presets = context.bark.presets(context.request.language)
    if not presets:
        raise UserError(f"the Bark model has no stock voices for language {context.request.language!r}")
    target = target_from_recordings([context.recording(row)], context.models.voice)
    name, similarity = nearest_preset(context.bark, presets, target, context.models.voice)
    return Voiced(name, detail={"preset": name, "ge2e_to_prompt": round(similarity, 4)})


def searched(row: Row, context: Context) -> Voiced:
    """The search for ``--search-minutes`` from the prompt recording (its work folder kept: a rerun continues)."""
    from ..search.command import search_recordings
    from ..search.steps import SearchSettings

    request = context.request
    settings = SearchSettings(seed=request.seed, max_seconds=request.max_seconds, language=request.language,
                              minutes=request.search_minutes, batch_size=request.batch_size)
    recording = context.recording(row)
    identity = {"recordings": [recording.sha256], "bark": request.bark.source, **settings.fixed(),
                **request.sampling.identity()}
    work = context.out / "search" / row.utt
    work.mkdir(parents=True, exist_ok=True)
    state = search_recordings([recording], context.models, context.bark, settings, work, identity, progress=False,
                              sampling=request.sampling)
    best = state.best(1)[0]
    return Voiced(best.prompt, detail={"search_score": round(float(best.score), 4)})


def speaker_recordings(speaker: str, context: Context) -> list[Path]:
    """A speaker's recordings the list offers for training: every prompt of theirs that is no row's target."""
    targets = {row.target_wav for row in context.rows if row.target_wav is not None}
    return sorted({row.prompt_wav for row in context.rows if row.speaker == speaker} - targets)


def trained_voice(row: Row, context: Context) -> Voiced:
    """Adapters trained (once per speaker) on the speaker's other recordings, with at least
    ``--voice-min-seconds`` of speech; the voice speaks with its own prompt."""
    from ..audio.sound import check_audio_header
    from ..requests import TrainVoiceRequest
    from ..voices.command import train_voice
    from ..voices.folder import load_voice

    if row.speaker not in context.voices:
        request, paths = context.request, speaker_recordings(row.speaker, context)
        seconds = sum(check_audio_header(path) for path in paths)
        if seconds < request.voice_min_seconds:
            raise UserError(f"speaker {row.speaker} has {seconds:.0f} s of recordings in the list besides the "
                            f"targets; a voice needs {request.voice_min_seconds:g} s")
        folder = context.out / "voices" / row.speaker
        if not (folder / "voice.json").is_file():
            folder.parent.mkdir(parents=True, exist_ok=True)
            train_voice(TrainVoiceRequest(recordings=paths, output=folder, bark=request.bark.source,
                                          models=request.models, device=request.bark.device, seed=request.seed,
                                          steps=request.voice_steps, force=True), progress=False)
        context.voices[row.speaker] = load_voice(folder)
    voice = context.voices[row.speaker]
    return Voiced(voice.prompt, voice, {"voice": row.speaker, "stages": list(voice.stages)})


SYSTEMS: dict[str, Callable[[Row, Context], Voiced]] = {
    "prompt": our_prompt, "method 1": method_one, "preset": nearest_stock, "search": searched,
    "voice": trained_voice}


def chosen_systems(request) -> list[str]:
    """The base columns, and the ones asked for."""
    return [*BASE_SYSTEMS, *(["search"] if request.search_minutes else []), *(["voice"] if request.voices else [])]


def folder_name(system: str) -> str:
    return system.replace(" ", "-")


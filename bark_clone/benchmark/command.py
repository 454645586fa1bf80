"""bark-clone benchmark as a library call: a test list spoken by every system in mixed-voice Bark batches, each
row's audio and scores stored as it finishes (a rerun skips finished rows), then the report."""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE, MAX_SIDECAR_BYTES, VERSION
from ..errors import UserError
from ..requests import BenchmarkRequest
from .lists import Row
from .systems import SYSTEMS, Context, chosen_systems, folder_name

MARKER = "benchmark.json"
MAX_RECORDING_BYTES = 2**31  # a recording hashed for a row's key is read at most this far
CONTENTS = (MARKER, "rows", "search", "voices", "report.md", "report.json", "utterances.csv", "report.png")


def identity(request: BenchmarkRequest) -> dict[str, Any]:
    """What the stored rows depend on: a rerun in the same folder must match it (``--limit``/``--every`` may
    grow, the systems may be added to)."""
    return {"tool": "bark-clone benchmark", "version": VERSION, "bark": request.bark.source,
            **request.bark.audio_identity(), **request.sampling.identity(), "models": asdict(request.models),
            "asr": request.asr, "sim_model": request.sim_model,
            "seed": request.seed, "max_seconds": request.max_seconds, "language": request.language}


def check_out(request: BenchmarkRequest) -> bool:
    """The output folder may be used: it is new (True), or one of ours holding the same benchmark (False; its
    finished rows are kept). Nothing is written here: the folder is made once the models have loaded."""
    from ..files import check_folder_output, holds_only, read_json_file

    out, fixed = Path(request.out), identity(request)
    if out.is_dir() and (out / MARKER).exists():
        saved = read_json_file(out / MARKER, MAX_SIDECAR_BYTES)
        if not isinstance(saved, dict) or not holds_only(out, MARKER, CONTENTS):
            raise UserError(f"--out {out}: holds files that are not a benchmark's; choose another folder")
        changed = sorted(key for key in fixed if saved.get(key) != fixed[key])
        if changed:
            raise UserError(f"--out {out} holds a benchmark with other settings ({', '.join(changed)}); use "
                            "another folder to compare them")
        return False
    check_folder_output(out, False, lambda folder: False, "benchmark")
    return True


def make_out(request: BenchmarkRequest) -> None:
    from ..files import json_bytes, write_files_atomically

    Path(request.out).mkdir(parents=True, exist_ok=True)
    write_files_atomically({Path(request.out) / MARKER: json_bytes(identity(request))}, force=True)


def row_key(row: Row, system: str) -> str:
    """What a stored row was made from: its utterance, texts and system, and the digests of its prompt and target
    recordings. A row edited in the list (or a recording replaced) no longer matches, and is made again."""
    import hashlib

    material = [system, row.utt, row.prompt_text, row.target_text, _digest(row.prompt_wav),
                _digest(row.target_wav) if row.target_wav is not None else None]
    return hashlib.sha256(repr(material).encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, modified: int) -> str | None:
    from ..files import regular_file_sha256

    return regular_file_sha256(path, MAX_RECORDING_BYTES)


def _digest(path: Path) -> str | None:
    """A recording's SHA-256 (computed once while it is unchanged), or None when it is no readable regular file."""
    try:
        status = Path(path).stat()
    except OSError:
        return None
    return _file_digest(str(path), status.st_size, status.st_mtime_ns)


def stored(out: Path, system: str, row: Row) -> dict[str, Any] | None:
    """The row's stored result, if it was made from exactly this row (``row_key``)."""
    from ..files import read_json_file

    document = read_json_file(Path(out) / "rows" / folder_name(system) / f"{row.utt}.json", MAX_SIDECAR_BYTES)
    return document if isinstance(document, dict) and document.get("key") == row_key(row, system) else None


def store(out: Path, system: str, row: Row, result: dict[str, Any], audio: np.ndarray | None) -> None:
    from ..audio.sound import wav_bytes
    from ..files import json_bytes, write_files_atomically

    folder = Path(out) / "rows" / folder_name(system)
    folder.mkdir(parents=True, exist_ok=True)
    files = {folder / f"{row.utt}.json": json_bytes({"utt": row.utt, "system": system, "speaker": row.speaker,
                                                      "target_text": row.target_text, "key": row_key(row, system),
                                                      **result})}
    if audio is not None:
        files[folder / f"{row.utt}.wav"] = wav_bytes(audio, CODEC_SAMPLE_RATE)
    write_files_atomically(files, force=True)


def embeddings_for(path: Path | None, meters, cache: dict) -> dict[str, np.ndarray] | None:
    """The target's own recording's speaker embeddings (None where the list has none), computed once."""
    from ..audio.sound import load_audio

    if path is None or not Path(path).is_file():
        return None
    if path not in cache:
        cache[path] = meters.embeddings(load_audio(path, HUBERT_SAMPLE_RATE).samples)
    return cache[path]


def prompt_embeddings(row: Row, context: Context, meters) -> dict[str, np.ndarray] | None:
    """The prompt's embeddings, from the recording the systems already decoded (once per row)."""
    if row.prompt_wav not in context.embeddings:
        try:
            context.embeddings[row.prompt_wav] = meters.embeddings(context.recording(row).samples_16k)
        except UserError:
            return None
    return context.embeddings[row.prompt_wav]


def speak_system(system: str, rows: list[Row], context: Context, meters, progress) -> None:
    """Every unfinished row in ``system``'s voice: built, spoken in batches (each row wearing its own adapters), scored."""
    request, built = context.request, []
    for row in rows:
        if stored(context.out, system, row) is not None:
            continue
        try:
            built.append((row, SYSTEMS[system](row, context)))
        except UserError as error:
            store(context.out, system, row, {"failed": str(error)}, None)
    for first in range(0, len(built), request.batch_size):
        speak_batch(system, built[first: first + request.batch_size], context, meters)
        progress.update(len(built[first: first + request.batch_size]))


def speak_batch(system: str, batch: list, context: Context, meters) -> None:
    from ..audio.sound import resample
    from ..bark.generation import generate

    request, index = context.request, {row.utt: number for number, row in enumerate(context.rows)}
    made = generate(context.switch.bark, [(row.target_text, context.switch.worn(voiced.voice, voiced.prompt))
                                          for row, voiced in batch], request.sampling,
                    [request.seed + index[row.utt] for row, _ in batch], request.batch_size)
    for (row, voiced), generation in zip(batch, made):
        prompt = prompt_embeddings(row, context, meters)
        if len(generation.audio) == 0 or prompt is None:
            store(context.out, system, row, {"failed": "Bark made no audio" if prompt else "no prompt audio"},
                  None)
            continue
        try:
            target = embeddings_for(row.target_wav, meters, context.embeddings)
        except UserError as error:  # an unusable target recording fails its own row, naming its line
            store(context.out, system, row, {"failed": f"{row.line}: its target recording: {error}"}, None)
            continue
        scores = meters.score(resample(generation.audio, CODEC_SAMPLE_RATE, HUBERT_SAMPLE_RATE), row.target_text,
                              request.language, prompt, target)
        store(context.out, system, row, {**scores, **voiced.detail, "seconds": round(len(generation.audio)
                                                                                     / CODEC_SAMPLE_RATE, 3),
                                         "ended": generation.ended}, generation.audio)


def check_request(request: BenchmarkRequest) -> None:
    if request.batch_size < 1 or request.resamples < 100 or request.voice_steps < 1:
        raise UserError("--batch-size and --voice-steps must be at least 1, --resamples at least 100")
    if request.search_minutes is not None and not request.search_minutes > 0:
        raise UserError("--search-minutes must be positive")


def run_benchmark(request: BenchmarkRequest, progress: bool = True) -> dict[str, Any]:
    """Speak the list with every system, score each row as it finishes (a rerun continues), write the report;
    the report's summary."""
    from ..bark.core import open_bark
    from ..models.loading import resolve_device
    from ..progress import progress_bar
    from ..prompting.pipeline import load_models
    from ..voices.switch import VoiceSwitch
    from .lists import read_list
    from .meters import load_meters
    from .report import write_report

    check_request(request)
    rows = read_list(Path(request.list_path), request.root, request.limit, request.every)
    new = check_out(request)
    device, sources = resolve_device(request.bark.device), request.models
    models = load_models(sources.hubert, sources.encodec, sources.quantizer, request.bark.device)
    meters = load_meters(request.asr, request.sim_model, device)
    bark = open_bark(request.bark, device)
    if new:  # made only now: a model that cannot load leaves nothing behind
        make_out(request)
    context = Context(bark, models, request, Path(request.out), rows, VoiceSwitch(bark))
    systems = chosen_systems(request)
    todo = sum(stored(context.out, system, row) is None for system in systems for row in rows)
    with progress_bar(total=todo, unit="row", desc="benchmark", disable=not progress) as bar:
        for system in systems:
            speak_system(system, rows, context, meters, bar)
    results = {system: [stored(context.out, system, row) for row in rows] for system in systems}
    return write_report(context.out, request, rows, results, meters)

"""The voice folder format, read and written here only: a speaker prompt plus LoRA adapters for Bark's coarse and
fine models (peft's format).

A voice folder holds ``prompt.npz`` and ``prompt.json`` (make-speaker's prompt and sidecar), ``coarse/`` and ``fine/``
(``adapter_config.json`` + ``adapter_model.safetensors``, loadable with ``PeftModel.from_pretrained``) and
``voice.json`` (what it was trained on, the base model and a hash of its stage weights, the metrics).
"""

from __future__ import annotations

import datetime
import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constants import MAX_SIDECAR_BYTES, VERSION
from ..errors import UserError
from ..files import read_json_file
from ..prompting.format import SpeakerPrompt
from .adapters import CONFIG_FILE, WEIGHTS_FILE, Adapter, read_adapter

VOICE_FILE = "voice.json"
CHECKPOINT = "train_state.pt"  # an interrupted train-voice's state (voices.checkpoint)
VOICE_FORMAT = "bark-clone-voice"
VOICE_FORMAT_VERSION = 1
STAGES = {"coarse": "coarse_acoustics", "fine": "fine_acoustics"}  # adapter folder -> BarkModel attribute
ADAPTER_FILES = (CONFIG_FILE, WEIGHTS_FILE)
MAX_ADAPTER_BYTES = 512 * 1024 * 1024  # rank 64 on suno/bark's stages is about 100 MB; rank 256 under 512


@dataclass(frozen=True)
class Voice:
    """A voice folder, checked: its prompt, the stages it has adapters for, and its ``voice.json``."""

    folder: Path
    prompt: SpeakerPrompt
    stages: tuple[str, ...]
    document: dict[str, Any] = field(default_factory=dict)
    adapters: dict[str, Adapter] = field(default_factory=dict)  # stage -> its checked configuration and hash

    @property
    def adapter_id(self) -> str:
        """A hash of every adapter's configuration and weights: two folders never share an adapter by name."""
        digest = hashlib.sha256("".join(f"{stage}:{self.adapters[stage].digest};" for stage in self.stages).encode())
        return "voice_" + digest.hexdigest()[:16]

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def sidecar(self) -> Path:
        """make-speaker's sidecar of the prompt: the guard's reference recording."""
        return self.folder / "prompt.json"

    @property
    def base_hash(self) -> str:
        return str(self.document.get("base", {}).get("stage_sha256", ""))


def is_voice_folder(path: Path | str) -> bool:
    return Path(path).is_dir() and (Path(path) / VOICE_FILE).exists()


def load_voice(folder: Path | str) -> Voice:
    """Read and check a voice folder, as data: ``voice.json`` bounded and strict, the prompt through Bark's checks,
    each adapter a regular file of bounded size in peft's safetensors format (nothing is ever unpickled)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a voice folder (train one with bark-clone train-voice)")
    document = read_json_file(folder / VOICE_FILE, MAX_SIDECAR_BYTES)
    if not isinstance(document, dict) or document.get("format") != VOICE_FORMAT or not isinstance(
            document.get("base"), dict) or not isinstance(document.get("stages"), list):
        raise UserError(f"{folder / VOICE_FILE} is missing or is not a bark-clone voice description")
    if document.get("format_version") != VOICE_FORMAT_VERSION:
        raise UserError(f"{folder}: voice format {document.get('format_version')!r}; this bark-clone reads "
                        f"{VOICE_FORMAT_VERSION}")
    stages = tuple(stage for stage in STAGES if stage in document["stages"])
    if not stages or len(stages) != len(document["stages"]):
        raise UserError(f"{folder / VOICE_FILE}: its stages must be among {', '.join(STAGES)}")
    adapters = {stage: read_adapter(folder, stage, MAX_ADAPTER_BYTES) for stage in stages}
    return Voice(folder, SpeakerPrompt.load(folder / "prompt.npz"), stages, document, adapters)


def open_speaker(path: Path | str) -> tuple[SpeakerPrompt, Path, Voice | None]:
    """A speaker as every command takes it: a prompt ``.npz`` (its sidecar beside it), or a voice folder (its
    prompt, its ``prompt.json`` and its adapters). Returns (prompt, sidecar path, the voice or None)."""
    path = Path(path)
    if path.is_dir():
        voice = load_voice(path)
        return voice.prompt, voice.sidecar, voice
    return SpeakerPrompt.load(path), path.with_suffix(".json"), None


def voice_document(request, bark, base: dict[str, Any], sources: dict, runs: dict
                   ) -> dict[str, Any]:
    """``voice.json``; ``base`` holds the base model's fingerprints, taken before the adapters wrapped it."""
    return {
        "format": VOICE_FORMAT, "format_version": VOICE_FORMAT_VERSION,
        "tool": {"name": "bark-clone", "version": VERSION},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "base": {"bark": request.bark, "revision": bark.revision, **base},
        "stages": list(request.stages), "sources": sources,
        "settings": {"rank": request.rank, "steps": request.steps, "batch_size": request.batch_size,
                     "seed": request.seed, "dtype": request.dtype, "max_seconds": request.max_seconds},
        "metrics": {stage: run.history for stage, run in runs.items()},
        "best": {stage: {"epoch": next(row["epoch"] for row in reversed(run.history) if row.get("best")),
                         "held_out_nll": run.best_nll} for stage, run in runs.items()},
    }


VOICE_CONTENTS = ("prompt.npz", "prompt.json", "metrics.png", "coarse", "fine", CHECKPOINT)  # beside voice.json


def is_our_voice_folder(folder: Path) -> bool:
    """A folder train-voice wrote (a voice, or an interrupted run's checkpoint) and nothing else: --force may
    replace it."""
    from ..files import holds_only

    return holds_only(folder, VOICE_FILE, VOICE_CONTENTS) or holds_only(folder, CHECKPOINT, VOICE_CONTENTS)


def write_voice(out: Path, files: dict[str, bytes], adapters: dict[str, Path]) -> None:
    """Assemble the folder beside ``out`` and move it into place whole (``voice.json`` last marks it complete)."""
    from ..files import staging_folder, swap_in, write_files_atomically

    staging = staging_folder(out)
    try:
        for stage, folder in adapters.items():  # peft's two files only: nothing else of a folder travels
            (staging / stage).mkdir()
            for name in ADAPTER_FILES:
                shutil.copyfile(folder / name, staging / stage / name, follow_symlinks=False)
        write_files_atomically({staging / name: data for name, data in files.items()}, force=True)
        swap_in(staging, out)  # the old voice, or an interrupted run's checkpoint: replaced whole
    finally:
        shutil.rmtree(staging, ignore_errors=True)

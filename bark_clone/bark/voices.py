"""Voice folders: a speaker prompt plus LoRA adapters for Bark's coarse and fine models (peft's format), and how a
loaded Bark wears them: merged for a one-voice process, or switched per request on one shared Bark.

A voice folder holds ``prompt.npz`` and ``prompt.json`` (make-speaker's prompt and sidecar), ``coarse/`` and ``fine/``
(``adapter_config.json`` + ``adapter_model.safetensors``, loadable with ``PeftModel.from_pretrained``) and
``voice.json`` (what it was trained on, the base model and a hash of its stage weights, the metrics).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..clone.models import Loaded
from ..constants import MAX_SIDECAR_BYTES
from ..errors import UserError
from ..files import read_json_file
from ..prompt import SpeakerPrompt

VOICE_FILE = "voice.json"
VOICE_FORMAT = "bark-clone-voice"
VOICE_FORMAT_VERSION = 1
STAGES = {"coarse": "coarse_acoustics", "fine": "fine_acoustics"}  # adapter folder -> BarkModel attribute
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
MAX_ADAPTER_BYTES = 512 * 1024 * 1024  # rank 64 on suno/bark's stages is about 100 MB
LORA_TARGETS = ["att_proj", "in_proj", "out_proj"]  # Bark's attention (q, k, v fused; output) and MLP projections


@dataclass(frozen=True)
class Voice:
    """A voice folder, checked: its prompt, the stages it has adapters for, and its ``voice.json``."""

    folder: Path
    prompt: SpeakerPrompt
    stages: tuple[str, ...]
    document: dict[str, Any] = field(default_factory=dict)
    adapter_id: str = ""  # a hash of its adapter files, read once: two folders never share an adapter by name

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
    for stage in stages:
        for name in ADAPTER_FILES:
            path = folder / stage / name
            if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_ADAPTER_BYTES:
                raise UserError(f"{folder}: {stage}/{name} is missing, not a regular file, or over "
                                f"{MAX_ADAPTER_BYTES // 2**20} MB")
        if read_json_file(folder / stage / ADAPTER_FILES[0], MAX_SIDECAR_BYTES) is None:
            raise UserError(f"{folder}: {stage}/{ADAPTER_FILES[0]} is not a JSON adapter configuration")
    digest = hashlib.sha256()
    for stage in stages:
        digest.update((folder / stage / ADAPTER_FILES[1]).read_bytes())
    return Voice(folder, SpeakerPrompt.load(folder / "prompt.npz"), stages, document,
                 "voice_" + digest.hexdigest()[:16])


def open_speaker(path: Path | str) -> tuple[SpeakerPrompt, Path, Voice | None]:
    """A speaker as every command takes it: a prompt ``.npz`` (its sidecar beside it), or a voice folder (its
    prompt, its ``prompt.json`` and its adapters). Returns (prompt, sidecar path, the voice or None)."""
    path = Path(path)
    if path.is_dir():
        voice = load_voice(path)
        return voice.prompt, voice.sidecar, voice
    return SpeakerPrompt.load(path), path.with_suffix(".json"), None


def stage_sha256(bark: Loaded, stages: tuple[str, ...] = tuple(STAGES)) -> str:
    """A hash of the named stages' weights (names, shapes and float32 values): a voice's adapters fit only the base
    they were trained on."""
    import torch

    digest = hashlib.sha256()
    for stage in stages:
        for name, tensor in sorted(getattr(bark.model, STAGES[stage]).state_dict().items()):
            values = tensor.detach().to("cpu", torch.float32).contiguous()
            digest.update(f"{stage}.{name}{tuple(values.shape)}".encode() + values.numpy().tobytes())
    return digest.hexdigest()


def check_base(voice: Voice, bark: Loaded) -> None:
    """Refuse a voice trained on another Bark (its stage weights hash differently)."""
    if voice.base_hash != stage_sha256(bark):
        trained_on = voice.document.get("base", {}).get("bark", "another model")
        raise UserError(f"voice {voice.folder} was trained on {trained_on}, not on this --bark {bark.source}: its "
                        "adapters fit only that model's weights")


def _read_adapter(voice: Voice, stage: str) -> dict[str, Any]:
    """The adapter's tensors, read with safetensors (no pickle); ``UserError`` for a damaged file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(voice.folder / stage / ADAPTER_FILES[1]))
    except (SafetensorError, OSError, ValueError) as error:
        raise UserError(f"{voice.folder}: {stage}/{ADAPTER_FILES[1]} is damaged: {error}") from None


def merge_voice(bark: Loaded, voice: Voice) -> None:
    """Merge ``voice``'s adapters into ``bark``'s stages for good (this process speaks only with it): generation then
    runs at the base model's speed. Checks the base first."""
    from peft import PeftModel

    check_base(voice, bark)
    for stage in voice.stages:
        _read_adapter(voice, stage)  # a damaged file is one line, before peft touches the model
        attribute = STAGES[stage]
        wrapped = PeftModel.from_pretrained(getattr(bark.model, attribute), str(voice.folder / stage))
        setattr(bark.model, attribute, wrapped.merge_and_unload())


class VoiceSwitch:
    """One base Bark shared by requests of several voices (the server): each voice's adapters are loaded once
    under its own name, and ``wearing(voice)`` holds Bark for one request with exactly that voice's adapters active
    (or none), so two voices never mix. peft switches adapters without touching the base weights."""

    def __init__(self, bark: Loaded) -> None:
        self.bark = bark
        self.lock = threading.Lock()
        self._wrapped: dict[str, Any] = {}  # stage -> its PeftModel
        self._loaded: set[tuple[str, str]] = set()  # (stage, adapter name)
        self._base_hash: str | None = None

    @contextlib.contextmanager
    def wearing(self, voice: Voice | None):
        with self.lock, contextlib.ExitStack() as stack:
            for stage in STAGES:
                model = self._prepared(stage, voice)
                if model is None:
                    continue
                if voice is not None and stage in voice.stages:
                    model.set_adapter(voice.adapter_id)
                else:
                    stack.enter_context(model.disable_adapter())
            yield self.bark

    def _prepared(self, stage: str, voice: Voice | None):
        """The stage's PeftModel with ``voice``'s adapter loaded (None while no voice has needed the stage)."""
        from peft import PeftModel

        if voice is None or stage not in voice.stages:
            return self._wrapped.get(stage)
        if self._base_hash is None:
            self._base_hash = stage_sha256(self.bark)
        if voice.base_hash != self._base_hash:
            check_base(voice, self.bark)
        name, attribute = voice.adapter_id, STAGES[stage]
        if (stage, name) not in self._loaded:
            _read_adapter(voice, stage)
            if stage not in self._wrapped:  # wraps the stage's layers in place: BarkModel keeps calling the same
                self._wrapped[stage] = PeftModel.from_pretrained(getattr(self.bark.model, attribute),
                                                                 str(voice.folder / stage), adapter_name=name)
            else:
                self._wrapped[stage].load_adapter(str(voice.folder / stage), adapter_name=name)
            self._loaded.add((stage, name))
        return self._wrapped[stage]

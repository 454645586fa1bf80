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

from ..constants import MAX_SIDECAR_BYTES
from ..devices import DTYPES
from ..errors import UserError
from ..files import read_json_file
from ..models import Loaded
from ..prompt import SpeakerPrompt
from .adapters import CONFIG_FILE, WEIGHTS_FILE, Adapter, attach, read_adapter

VOICE_FILE = "voice.json"
VOICE_FORMAT = "bark-clone-voice"
VOICE_FORMAT_VERSION = 1
STAGES = {"coarse": "coarse_acoustics", "fine": "fine_acoustics"}  # adapter folder -> BarkModel attribute
ADAPTER_FILES = (CONFIG_FILE, WEIGHTS_FILE)
MAX_ADAPTER_BYTES = 512 * 1024 * 1024  # rank 64 on suno/bark's stages is about 100 MB; rank 256 under 512
TENSOR_CACHE = 8  # stages' adapters kept checked in memory by a shared Bark (two per voice)


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


def stage_sha256(bark: Loaded, stages: tuple[str, ...] = tuple(STAGES), dtype: str | None = None) -> str:
    """A hash of the named stages' weights (names, shapes and values, as cast to ``dtype``: by default the precision
    they are in): a voice's adapters fit only the base they were trained on."""
    import torch

    digest = hashlib.sha256()
    for stage in stages:
        for name, tensor in sorted(getattr(bark.model, STAGES[stage]).state_dict().items()):
            values = tensor.detach().to("cpu", getattr(torch, dtype) if dtype else tensor.dtype)
            values = values.to(torch.float32).contiguous()
            digest.update(f"{stage}.{name}{tuple(values.shape)}".encode() + values.numpy().tobytes())
    return digest.hexdigest()


def base_fingerprints(bark: Loaded) -> dict[str, str]:
    """The stages' hash in every precision Bark may run in (taken at training time, from the float32 weights), so a
    voice is recognised whatever --dtype speaks it later."""
    return {dtype: stage_sha256(bark, dtype=dtype) for dtype in DTYPES}


def expected_base(voice: Voice, bark: Loaded) -> str:
    """The hash ``voice`` records for its base in the precision ``bark``'s stages are in now."""
    dtype = str(next(getattr(bark.model, STAGES[voice.stages[0]]).parameters()).dtype).removeprefix("torch.")
    fingerprints = voice.document.get("base", {}).get("stage_sha256_by_dtype")
    if dtype == "float32" or not isinstance(fingerprints, dict):
        return voice.base_hash  # voices from before fingerprints per precision: float32 only
    return str(fingerprints.get(dtype, ""))


def check_base(voice: Voice, bark: Loaded) -> None:
    """Refuse a voice trained on another Bark (its stage weights hash differently)."""
    if expected_base(voice, bark) != stage_sha256(bark):
        trained_on = voice.document.get("base", {}).get("bark", "another model")
        raise UserError(f"voice {voice.folder} was trained on {trained_on}, not on this --bark {bark.source}: its "
                        "adapters fit only that model's weights")


def merge_voice(bark: Loaded, voice: Voice) -> None:
    """Merge ``voice``'s adapters into ``bark``'s stages for good (this process speaks only with it): generation then
    runs at the base model's speed. Checks the base first."""
    check_base(voice, bark)
    for stage in voice.stages:
        attribute = STAGES[stage]
        wrapped = attach(getattr(bark.model, attribute), voice.adapters[stage], voice.adapter_id)
        setattr(bark.model, attribute, wrapped.merge_and_unload())


class VoiceSwitch:
    """One base Bark shared by requests of several voices (the server): ``wearing(voice)`` holds Bark for one job
    with exactly that voice's checked adapters attached, and removes them after it, so the shared Bark is the base
    model between jobs and two voices never mix."""

    def __init__(self, bark: Loaded) -> None:
        self.bark = bark
        self.lock = threading.Lock()
        self._base_hash: str | None = None
        self._tensors: dict[str, Any] = {}  # "stage:digest" -> its checked tensors (the last few voices worn)

    @contextlib.contextmanager
    def wearing(self, voice: Voice | None):
        with self.lock:
            worn = []
            try:
                if voice is not None:
                    self._check_base(voice)
                    for stage in voice.stages:
                        stage_model = getattr(self.bark.model, STAGES[stage])
                        worn.append(attach(stage_model, voice.adapters[stage], voice.adapter_id,
                                           self._checked(stage, voice.adapters[stage], stage_model)))
                yield self.bark
            finally:
                for wrapped in reversed(worn):
                    wrapped.unload()  # the base layers back in place, the adapter's weights gone

    def _checked(self, stage: str, adapter: Adapter, stage_model) -> dict[str, Any]:
        """The adapter's tensors, read and checked once per digest (its configuration and the weights' hash), so a
        voice worn batch after batch is not read again each time."""
        from .adapters import adapter_tensors

        key = f"{stage}:{adapter.digest}"  # checked against this stage's shapes
        if key not in self._tensors:
            if len(self._tensors) >= TENSOR_CACHE:
                self._tensors.pop(next(iter(self._tensors)))
            self._tensors[key] = adapter_tensors(adapter, stage_model)
        return self._tensors[key]

    def _check_base(self, voice: Voice) -> None:
        if self._base_hash is None:
            self._base_hash = stage_sha256(self.bark)
        if expected_base(voice, self.bark) != self._base_hash:
            check_base(voice, self.bark)

"""How a loaded Bark wears a voice folder's adapters: merged for good in a one-voice process, or attached for one job
at a time on the one Bark a server shares (``VoiceSwitch``); both only on the base the voice was trained on."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from typing import Any

from ..constants import DTYPES
from ..errors import UserError
from ..models.loading import Loaded
from .adapters import Adapter, attach
from .folder import STAGES, Voice

TENSOR_CACHE = 8  # stages' adapters kept checked in memory by a shared Bark for peft (two per voice)
ROW_ADAPTER_BYTES = 1024 * 2**20  # the engine's per-row adapters kept in memory, least recently used dropped first


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
        self.rows_lock = threading.Lock()
        self._base_hash: str | None = None
        self._tensors: dict[str, Any] = {}  # "stage:digest" -> its checked tensors (the last few voices worn)
        self._rows: OrderedDict[str, Any] = OrderedDict()  # "stage:digest" -> its bark.lora.StageAdapter

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

    def worn(self, voice: Voice | None, history: Any) -> Any:
        """``history`` (the row's prompt) wearing ``voice``'s checked adapters, as the engine applies them per row
        in a shared batch (``bark.lora.Worn``); the history alone without a voice. Bark itself is not touched."""
        from ..bark.lora import Worn

        if voice is None:
            return history
        with self.rows_lock:  # not self.lock: a job may hold that while its rows wait for the batch
            self._check_base(voice)
            return Worn(history, {STAGES[stage]: self._row_adapter(stage, voice.adapters[stage])
                                  for stage in voice.stages})

    def _row_adapter(self, stage: str, adapter: Adapter) -> Any:
        """One stage's adapter for the engine, read, checked and converted once per digest; the cache is bounded in
        bytes (least recently used go first)."""
        from .adapters import adapter_tensors, stage_adapter

        key = f"{stage}:{adapter.digest}"
        if key in self._rows:
            self._rows.move_to_end(key)
            return self._rows[key]
        made = stage_adapter(adapter, adapter_tensors(adapter, getattr(self.bark.model, STAGES[stage])))
        self._rows[key] = made
        while len(self._rows) > 1 and sum(item.nbytes for item in self._rows.values()) > ROW_ADAPTER_BYTES:
            self._rows.popitem(last=False)
        return made

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

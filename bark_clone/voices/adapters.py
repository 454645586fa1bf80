"""A voice's LoRA adapters as data: the configuration compared with what train-voice writes and the weights with
the configuration (exact keys, shapes, float dtypes, finite values, a size bound from the declared rank) before
peft or torch sees them; then attached to a stage and, on a shared Bark, removed again after the job.

Why so strict: peft honours whatever a configuration asks for (PiSSA or LoftQ initialisation rewrites the base
weights, ``modules_to_save`` and ``layer_replication`` replace base modules, a state dict may carry base weights),
and on the server one shared Bark speaks for every speaker: one hostile voice folder would change them all.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import MAX_VOICE_RANK
from ..errors import UserError
from ..files import parse_json, read_regular_file, regular_file_sha256

CONFIG_FILE, WEIGHTS_FILE = "adapter_config.json", "adapter_model.safetensors"
LORA_TARGETS = ("att_proj", "in_proj", "out_proj")  # Bark's attention (q, k, v fused; output) and MLP projections
MAX_RANK = MAX_VOICE_RANK  # rank 64 on suno/bark's stages is about 100 MB
MAX_ALPHA = 4 * MAX_RANK
MAX_CONFIG_BYTES = 64 * 1024  # peft writes about 1.5 KB
MAX_HEADER_BYTES = 1024 * 1024  # a safetensors header lists names, shapes and offsets: about 150 bytes a tensor
DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2}
FREE_FIELDS = ("r", "lora_alpha", "lora_dropout", "target_modules", "inference_mode", "base_model_name_or_path",
               "revision", "peft_version", "auto_mapping")  # checked one by one; every other field as written


@dataclass(frozen=True)
class Adapter:
    """One stage's adapter, checked as far as it can be without the model: its configuration (``LoraConfig``'s
    keywords) and the hash of its weights file, which ``attach`` reads again, bounded, and checks."""

    config: dict[str, Any]
    weights_sha256: str
    path: Path  # the weights file
    where: str  # "folder/stage", for messages

    @property
    def digest(self) -> str:
        """Covers the configuration and the weights: two folders differing in either never share an adapter."""
        canonical = repr(sorted(self.config.items())) + self.weights_sha256
        return hashlib.sha256(canonical.encode()).hexdigest()


def written_config() -> dict[str, Any]:
    """What train-voice's ``LoraConfig`` holds, field by field (peft's own defaults for everything else)."""
    from peft import LoraConfig

    return LoraConfig(r=1, lora_alpha=1, lora_dropout=0.0, target_modules=list(LORA_TARGETS)).to_dict()


def check_config(document: Any, where: str) -> dict[str, Any]:
    """The adapter configuration as ``LoraConfig`` keywords, or ``UserError`` naming the first field we refuse."""
    if not isinstance(document, dict) or document.get("peft_type") != "LORA":
        raise UserError(f"{where}/{CONFIG_FILE} is not a LoRA adapter configuration")
    expected = written_config()
    for key, value in document.items():
        if key in FREE_FIELDS:
            continue
        if key not in expected:
            raise UserError(f"{where}/{CONFIG_FILE}: field {key!r} is not one this peft knows; refused")
        wanted = expected[key].value if hasattr(expected[key], "value") else expected[key]
        if value != wanted and not (isinstance(wanted, (set, tuple)) and list(wanted) == value):
            raise UserError(f"{where}/{CONFIG_FILE}: {key} is {value!r}; a voice's adapters keep it at {wanted!r} "
                            "(they may only add LoRA weights to the attention and MLP projections)")
    rank, alpha, dropout = document.get("r"), document.get("lora_alpha"), document.get("lora_dropout", 0.0)
    if not _number(rank, int) or not 1 <= rank <= MAX_RANK:
        raise UserError(f"{where}/{CONFIG_FILE}: rank r={rank!r} must be an integer in 1..{MAX_RANK}")
    if not _number(alpha) or not 0 < alpha <= MAX_ALPHA:
        raise UserError(f"{where}/{CONFIG_FILE}: lora_alpha={alpha!r} must lie in (0, {MAX_ALPHA}]")
    if not _number(dropout) or not 0 <= dropout < 1:
        raise UserError(f"{where}/{CONFIG_FILE}: lora_dropout={dropout!r} must lie in [0, 1)")
    targets = document.get("target_modules")
    if (not isinstance(targets, list) or not targets or len(set(map(str, targets))) != len(targets)
            or not set(targets) <= set(LORA_TARGETS)):
        raise UserError(f"{where}/{CONFIG_FILE}: target_modules must be some of {', '.join(LORA_TARGETS)}, got "
                        f"{str(targets)[:80]}")
    return {"r": rank, "lora_alpha": alpha, "lora_dropout": float(dropout), "target_modules": sorted(targets)}


def _number(value: Any, kind: type = float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and (kind is float or isinstance(value, int)))


def read_adapter(folder: Path, stage: str, max_bytes: int) -> Adapter:
    """Read and check one stage's configuration; hash its weights file (a regular file of at most ``max_bytes``)."""
    where = f"{folder.name}/{stage}"
    config_bytes = read_regular_file(folder / stage / CONFIG_FILE, MAX_CONFIG_BYTES)
    try:
        document = parse_json(config_bytes.decode("utf-8")) if config_bytes is not None else None
    except (UnicodeDecodeError, ValueError):
        document = None
    if document is None:
        raise UserError(f"{where}/{CONFIG_FILE} is missing, not a regular file, over {MAX_CONFIG_BYTES // 1024} KB "
                        "or not JSON")
    config = check_config(document, where)
    path = folder / stage / WEIGHTS_FILE
    digest = regular_file_sha256(path, max_bytes)
    if digest is None:
        raise UserError(f"{where}/{WEIGHTS_FILE} is missing, not a regular file, or over {max_bytes // 2**20} MB")
    return Adapter(config, digest, path, where)


def expected_tensors(stage_model, config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The tensors peft saves for ``config`` on this stage: each targeted Linear's A (r, in) and B (out, r)."""
    import torch

    rank, shapes = config["r"], {}
    for name, module in stage_model.named_modules():
        if type(module) is torch.nn.Linear and name.rsplit(".", 1)[-1] in config["target_modules"]:
            shapes[f"base_model.model.{name}.lora_A.weight"] = (rank, module.in_features)
            shapes[f"base_model.model.{name}.lora_B.weight"] = (module.out_features, rank)
    return shapes


def adapter_tensors(adapter: Adapter, stage_model) -> dict[str, Any]:
    """The weights, checked against the stage before anything is allocated: the file is read only up to what the
    configuration's rank allows and must be the file hashed before; its header (names, dtypes, shapes, offsets)
    must be exactly what the configuration implies; then the values must be finite."""
    import torch
    from safetensors.torch import load

    data = read_regular_file(adapter.path, weights_bound(stage_model, adapter.config))
    if data is None:
        raise UserError(f"{adapter.where}/{WEIGHTS_FILE} is not a regular file, or larger than rank "
                        f"{adapter.config['r']} allows on this stage")
    if hashlib.sha256(data).hexdigest() != adapter.weights_sha256:
        raise UserError(f"{adapter.where}/{WEIGHTS_FILE} changed since the voice was read; try again")
    shapes = expected_tensors(stage_model, adapter.config)
    header = _header(adapter.where, data)
    names = set(header) - {"__metadata__"}
    if not names:
        raise UserError(f"{adapter.where}/{WEIGHTS_FILE} holds no adapter tensors")
    if names != set(shapes):
        odd = sorted(names - set(shapes)) or sorted(set(shapes) - names)
        what = "not a LoRA weight of this stage" if names - set(shapes) else "missing"
        raise UserError(f"{adapter.where}/{WEIGHTS_FILE}: {odd[0]} is {what}")
    size = 0
    for name in sorted(names):
        entry = header[name]
        if not isinstance(entry, dict) or entry.get("dtype") not in DTYPE_BYTES or tuple(entry.get("shape", ())) != \
                shapes[name]:
            raise UserError(f"{adapter.where}/{WEIGHTS_FILE}: {name} is not a float tensor of shape {shapes[name]}")
        size += math.prod(shapes[name]) * DTYPE_BYTES[entry["dtype"]]
    if size != len(data) - 8 - int.from_bytes(data[:8], "little"):
        raise UserError(f"{adapter.where}/{WEIGHTS_FILE} is truncated or holds more than its tensors")
    try:
        tensors = load(data)
    except Exception as error:  # safetensors raises its own error types for a damaged buffer
        raise UserError(f"{adapter.where}/{WEIGHTS_FILE} is damaged: {type(error).__name__}") from None
    if not all(bool(torch.isfinite(tensor).all()) for tensor in tensors.values()):
        raise UserError(f"{adapter.where}/{WEIGHTS_FILE} holds values that are not finite")
    return tensors


def _header(where: str, data: bytes) -> dict[str, Any]:
    length = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    try:
        if not 0 < length <= min(MAX_HEADER_BYTES, len(data) - 8):
            raise ValueError
        header = parse_json(data[8: 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict):
        raise UserError(f"{where}/{WEIGHTS_FILE} is not a safetensors file")
    return header


def weights_bound(stage_model, config: dict[str, Any]) -> int:
    """The largest weights file ``config`` can mean for this stage (float32, with its header): read no more."""
    return sum(math.prod(shape) * 4 for shape in expected_tensors(stage_model, config).values()) + MAX_HEADER_BYTES


def stage_adapter(adapter: Adapter, tensors: dict[str, Any]) -> Any:
    """The checked tensors as the engine applies them per row (``bark.lora.StageAdapter``): peft's
    ``base_model.model.<module>.lora_A.weight`` / ``lora_B.weight`` by module, float32, B scaled by alpha / r."""
    import torch

    from ..bark.lora import StageAdapter

    scale = adapter.config["lora_alpha"] / adapter.config["r"]
    weights = {}
    for name, tensor in tensors.items():
        if name.endswith(".lora_A.weight"):
            module = name.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
            up = tensors[name.replace(".lora_A.", ".lora_B.")]
            weights[module] = (tensor.to(torch.float32), up.to(torch.float32) * scale)
    return StageAdapter(adapter.digest, adapter.config["r"], weights)


def attach(stage_model, adapter: Adapter, name: str, tensors: dict[str, Any] | None = None):
    """``stage_model`` wrapped in place by peft with this adapter's checked weights (``tensors``, when already read
    by ``adapter_tensors``), active; a ``PeftModel``."""
    from peft import LoraConfig, PeftModel, set_peft_model_state_dict

    tensors = adapter_tensors(adapter, stage_model) if tensors is None else tensors
    wrapped = PeftModel(stage_model, LoraConfig(**adapter.config), adapter_name=name)
    result = set_peft_model_state_dict(wrapped, tensors, adapter_name=name)
    if result.unexpected_keys:  # checked above already: an adapter never writes anything but its own weights
        wrapped.unload()
        raise UserError(f"{adapter.where}: peft did not take {result.unexpected_keys[0]}")
    wrapped.eval()
    return wrapped

"""Quantizer files: the published GitMylo .pth format and our own safetensors folder, both read without unpickling."""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .jsonio import json_text
from .models import V1_INTERMEDIATE_SIZE, QuantizerConfig, QuantizerFormatError, quantizer_from_state

FOLDER_FORMAT = "bark-clone-quantizer"
FOLDER_FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
GITMYLO_V0_SIZES = {"input_size": 768, "hidden_size": 1024, "output_size": 10_000}  # a file without .info


@dataclass
class LoadedQuantizer:
    """A ready-to-run quantizer (in eval mode, on CPU) and what is known about it."""

    model: nn.Module
    config: QuantizerConfig
    path: Path
    format: str  # "gitmylo" or FOLDER_FORMAT
    metadata: dict[str, Any] = field(default_factory=dict)


def load_quantizer_path(path: Path | str) -> LoadedQuantizer:
    """Load a quantizer from a .pth file (published format) or a folder (ours, or one holding a single .pth)."""
    path = Path(path)
    if not path.exists():
        raise QuantizerFormatError(f"no such quantizer file or folder: {path}")
    if path.is_dir():
        if (path / CONFIG_FILE).exists():
            return load_folder(path)
        candidates = sorted(path.glob("*.pth")) + sorted(path.glob("*.pt"))
        if len(candidates) != 1:
            found = ", ".join(candidate.name for candidate in candidates) or "no .pth file"
            raise QuantizerFormatError(
                f"{path} is not a quantizer folder: it has no {CONFIG_FILE} and not exactly one .pth ({found})"
            )
        path = candidates[0]
    return load_gitmylo(path)


def load_gitmylo(path: Path) -> LoadedQuantizer:
    """Read the published format: ``torch.save(state_dict)`` with a JSON ``<stem>/.info`` entry appended.

    Sizes come from the tensors and must agree with ``.info`` when it is there. A file without ``.info`` is v0.
    """
    if not zipfile.is_zipfile(path):
        raise QuantizerFormatError(f"{path} is not a quantizer: it is not a PyTorch checkpoint (zip) file")
    info = read_info(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged or hostile file
        raise QuantizerFormatError(f"{path} could not be read as plain tensors: {error}") from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise QuantizerFormatError(f"{path} is not a quantizer: it does not hold a dictionary of tensors")
    config = gitmylo_config_from_state(state, info, str(path))
    try:
        model = quantizer_from_state(config, state)
    except QuantizerFormatError as error:
        raise QuantizerFormatError(f"{path}: {error}") from None
    version = 1 if config.intermediate_size else 0
    return LoadedQuantizer(model.eval(), config, path, "gitmylo", {"version": version, "info": info})


def read_info(path: Path) -> dict[str, int] | None:
    """The JSON ``.info`` entry of a published-format file (None when absent); its sizes must be whole numbers."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if name.endswith("/.info")]
            if not names:
                return None
            info = json.loads(archive.read(names[0]).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise QuantizerFormatError(f"{path}: its .info entry is not readable JSON ({error})") from None
    if not isinstance(info, dict) or not all(isinstance(info.get(key, 0), int) and not isinstance(info.get(key), bool)
                                             for key in ("input_size", "hidden_size", "output_size", "version")):
        raise QuantizerFormatError(f"{path}: its .info entry must map input_size, hidden_size, output_size and "
                                   "version to whole numbers")
    return info


def gitmylo_config_from_state(state: dict[str, torch.Tensor], info: dict | None, name: str) -> QuantizerConfig:
    """Work out the LSTM quantizer's sizes from its tensors, and cross-check them against ``.info``."""
    required = ("lstm.weight_ih_l0", "lstm.weight_hh_l0", "fc.weight", "fc.bias")
    missing = [key for key in required if key not in state]
    if missing:
        raise QuantizerFormatError(f"{name} is not a quantizer: it lacks {', '.join(missing)}")
    layer_ids = {int(match.group(1)) for key in state if (match := re.fullmatch(r"lstm\.weight_ih_l(\d+)", key))}
    intermediate = state.get("intermediate.weight")
    config = QuantizerConfig(
        arch="lstm",
        input_size=int(state["lstm.weight_ih_l0"].shape[1]),
        hidden_size=int(state["lstm.weight_hh_l0"].shape[1]),
        output_size=int(state["fc.weight"].shape[0]),
        num_layers=len(layer_ids),
        intermediate_size=int(intermediate.shape[0]) if intermediate is not None else 0,
    )
    declared = dict(info) if info is not None else {**GITMYLO_V0_SIZES, "version": 0}
    for key in ("input_size", "hidden_size", "output_size"):
        if key in declared and int(declared[key]) != getattr(config, key):
            raise QuantizerFormatError(
                f"{name}: its .info says {key}={declared[key]} but its weights have {getattr(config, key)}"
            )
    if int(declared.get("version", 0)) != (1 if config.intermediate_size else 0):
        raise QuantizerFormatError(
            f"{name}: its .info says version {declared.get('version')} but its weights are "
            f"v{1 if config.intermediate_size else 0}"
        )
    return config


def gitmylo_bytes(model: nn.Module, config: QuantizerConfig, stem: str) -> bytes:
    """Serialise an ``lstm`` quantizer in the published format, so existing Bark GUIs can load it."""
    if config.arch != "lstm" or config.intermediate_size not in (0, V1_INTERMEDIATE_SIZE) or config.num_layers != 2:
        raise QuantizerFormatError(
            "only the published shapes (2-layer lstm, v0 or v1) can be exported to the GitMylo format"
        )
    info = {
        "input_size": config.input_size,
        "hidden_size": config.hidden_size,
        "output_size": config.output_size,
        "version": 1 if config.intermediate_size else 0,
    }
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    with tempfile.TemporaryDirectory() as folder:
        # torch names the zip's root folder after the file, and .info must sit in that same folder.
        target = Path(folder) / f"{stem}.pth"
        torch.save(state, target)
        with zipfile.ZipFile(target, "a") as archive:
            archive.writestr(f"{stem}/.info", json_text(info, indent=None))
        return target.read_bytes()


def load_folder(path: Path) -> LoadedQuantizer:
    """Read our format: ``config.json`` (architecture and provenance) plus ``model.safetensors``."""
    from safetensors.torch import load_file

    try:
        document = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise QuantizerFormatError(f"{path / CONFIG_FILE} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FOLDER_FORMAT:
        raise QuantizerFormatError(f"{path} is not a bark-clone quantizer folder ({CONFIG_FILE} has no format tag)")
    version = document.get("format_version", 0)
    if not isinstance(version, int) or not isinstance(document.get("model"), dict):
        raise QuantizerFormatError(f"{path / CONFIG_FILE} is damaged: it needs a whole-number format_version and a "
                                   "model object")
    if version > FOLDER_FORMAT_VERSION:
        raise QuantizerFormatError(f"{path} was written by a newer bark-clone (format {version})")
    try:
        config = QuantizerConfig.from_dict(document["model"])
    except QuantizerFormatError as error:
        raise QuantizerFormatError(f"{path / CONFIG_FILE}: {error}") from None
    weights = path / WEIGHTS_FILE
    if not weights.exists():
        raise QuantizerFormatError(f"{path} has no {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights))
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise QuantizerFormatError(f"{weights} is damaged: {error}") from None
    try:
        model = quantizer_from_state(config, state)
    except QuantizerFormatError as error:
        raise QuantizerFormatError(f"{weights} does not match {CONFIG_FILE}: {error}") from None
    metadata = {key: value for key, value in document.items() if key not in ("model",)}
    return LoadedQuantizer(model.eval(), config, path, FOLDER_FORMAT, metadata)


def folder_config_document(config: QuantizerConfig, **provenance: Any) -> dict[str, Any]:
    """The ``config.json`` of a quantizer folder: format tag, architecture and provenance (HuBERT, rates, data)."""
    return {"format": FOLDER_FORMAT, "format_version": FOLDER_FORMAT_VERSION, "model": config.to_dict(), **provenance}

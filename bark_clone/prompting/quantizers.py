"""Quantizers by short name (the published community ones, fetched into the Hugging Face cache) or by path."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantizer.formats import CONFIG_FILE, WEIGHTS_FILE, LoadedQuantizer, load_quantizer_path
from quantizer.models import QuantizerFormatError

from ..errors import UserError
from ..files import file_sha256
from ..models.loading import hub_offline, hub_revision, offline_hint, silence_hub_logging


@dataclass(frozen=True)
class Published:
    """A community quantizer on the hub, in the GitMylo format."""

    repo: str
    filename: str
    version: int


PUBLISHED: dict[str, Published] = {
    "en": Published("GitMylo/bark-voice-cloning", "quantifier_hubert_base_ls960_14.pth", 0),
    "en-large": Published("GitMylo/bark-voice-cloning", "quantifier_V1_hubert_base_ls960_23.pth", 1),
    "pl": Published("Hobis/bark-voice-cloning-polish-HuBERT-quantizer", "polish-HuBERT-quantizer_8_epoch.pth", 1),
    "de": Published("CountFloyd/bark-voice-cloning-german-HuBERT-quantizer", "german-HuBERT-quantizer_14_epoch.pth", 1),
    "es": Published("Lancer1408/bark-es-tokenizer", "es_tokenizer.pth", 1),
    "pt": Published(
        "MadVoyager/bark-voice-cloning-portuguese-HuBERT-quantizer", "portuguese-HuBERT-quantizer_24_epoch.pth", 1
    ),
    "ja": Published(
        "junwchina/bark-voice-cloning-japanese-HuBERT-quantizer", "japanese-HuBERT-quantizer_24_epoch.pth", 1
    ),
    "tr": Published("egeadam/bark-voice-cloning-turkish-HuBERT-quantizer", "turkish_model_epoch_14.pth", 1),
    "it": Published("gpwr/bark-it-tokenizer", "it_tokenizer.pth", 1),
}


@dataclass
class Quantizer:
    """A loaded quantizer with its provenance for the sidecar."""

    loaded: LoadedQuantizer
    name: str
    revision: str | None
    sha256: str

    @property
    def model(self):
        return self.loaded.model

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.loaded.path),
            "revision": self.revision,
            "sha256": self.sha256,
            "format": self.loaded.format,
            "arch": self.loaded.config.arch,
            **({"version": self.loaded.metadata["version"]} if "version" in self.loaded.metadata else {}),
        }


def fetch_published(name: str) -> tuple[Path, str | None]:
    """Download (or find in the hub cache) a published quantizer; returns its path and commit."""
    from huggingface_hub import hf_hub_download

    entry = PUBLISHED[name]
    silence_hub_logging()
    try:
        path = Path(hf_hub_download(entry.repo, entry.filename, local_files_only=hub_offline()))
    except Exception as error:  # huggingface_hub raises many types for offline, missing or gated repos
        raise offline_hint(entry.repo, f"quantizer {name!r} ({entry.filename}) from", "--quantizer", error) from None
    return path, hub_revision(entry.repo, entry.filename)


def load_quantizer(name_or_path: str, feature_size: int | None = None, device=None) -> Quantizer:
    """A quantizer by short name (``en``, ``en-large``, ``de``, ...) or path (.pth file or folder).

    ``feature_size`` is the HuBERT hidden size it will be fed; a mismatch is a ``UserError``.
    """
    local = Path(name_or_path).expanduser()
    revision = None
    if local.exists():
        path = local
    elif name_or_path in PUBLISHED:
        path, revision = fetch_published(name_or_path)
    else:
        raise UserError(
            f"--quantizer {name_or_path}: no such file or folder, and not a known name ({', '.join(PUBLISHED)})"
        )
    try:
        loaded = load_quantizer_path(path)
    except QuantizerFormatError as error:
        raise UserError(str(error)) from None
    if feature_size is not None and loaded.config.input_size != feature_size:
        raise UserError(
            f"quantizer {name_or_path} expects {loaded.config.input_size}-dim features but the HuBERT model gives "
            f"{feature_size}-dim ones: use the HuBERT it was trained on"
        )
    if device is not None:
        loaded.model.to(device)
    return Quantizer(loaded, name_or_path, revision, quantizer_sha256(loaded.path))


def quantizer_sha256(path: Path) -> str:
    """SHA-256 of a quantizer file, or of a quantizer folder's config and weights."""
    if not path.is_dir():
        return file_sha256(path)
    digests = "".join(file_sha256(path / name) for name in (CONFIG_FILE, WEIGHTS_FILE))
    return hashlib.sha256(digests.encode()).hexdigest()

"""Model loading: a hub id or a local folder, the offline message, the device, and the checked transformers loader every
model goes through."""

from __future__ import annotations

import functools
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import UserError

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class Loaded:
    """A model plus where it came from: ``source`` as given, ``revision`` the hub commit (None for a folder)."""

    model: Any
    source: str
    revision: str | None
    device: Any

    def describe(self) -> dict[str, Any]:
        """Provenance for the sidecar."""
        return {"source": self.source, "revision": self.revision}


def resolve_device(name: str = "auto"):
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise UserError(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps was asked for, but this PyTorch has no MPS support")
    return torch.device(name)


def hub_revision(source: str, filename: str = "config.json") -> str | None:
    """The commit a hub model was loaded at, read from the local cache (None for local folders)."""
    if Path(source).expanduser().exists():
        return None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(source, filename)
    if isinstance(cached, str):
        match = re.search(r"snapshots[/\\]([0-9a-f]{40})[/\\]", cached)
        if match:
            return match.group(1)
    return None


@functools.lru_cache(maxsize=1)
def hub_offline() -> bool:
    """True when the hub cannot be reached: HF_HUB_OFFLINE is set, or its host name does not even resolve.

    Then only the local cache is consulted, so a machine without network gets its one-line error at once instead
    of after a minute of retries.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return True
    return False


def silence_hub_logging() -> None:
    """Keep transformers' and huggingface_hub's warnings and progress bars out of a one-line CLI."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hub_logging.set_verbosity_error()


def offline_hint(source: str, what: str, flag: str, error: Exception) -> UserError:
    """The one-line error for a model that is neither a local folder nor reachable on the hub."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return UserError(
        f"cannot load {what} {source!r}: it is not in the local Hugging Face cache and could not be downloaded "
        f"({reason[:160]}). On a connected machine run `hf download {source} --local-dir DIR`, copy DIR here "
        f"and pass {flag} DIR"
    )


def load_pretrained(source: str, model_types: tuple[str, ...], model_class: Any, what: str, flag: str, device):
    """Load a transformers model from a hub id or a local folder, checking it is the right kind of model."""
    from transformers import AutoConfig

    silence_hub_logging()
    local = Path(source).expanduser()
    if local.exists():
        if not local.is_dir():
            raise UserError(f"{flag} {source}: a model is a folder holding config.json, not a single file")
        if not (local / "config.json").exists():
            raise UserError(f"{flag} {source} is not a model folder: it has no config.json")
    elif not REPO_ID.match(source):
        raise UserError(f"{flag} {source}: no such folder, and not a hub id like owner/name")
    where = str(local) if local.exists() else source
    try:
        config = AutoConfig.from_pretrained(where, local_files_only=hub_offline())
    except OSError as error:
        if local.exists():
            raise UserError(f"{flag} {source}: its config.json cannot be read ({error})") from None
        raise offline_hint(source, what, flag, error) from None
    except ValueError as error:
        raise UserError(f"{flag} {source} is not a transformers model folder: {error}") from None
    if config.model_type not in model_types:
        raise UserError(f"{flag} {source} holds a {config.model_type!r} model, not {what}")
    try:
        model = model_class.from_pretrained(where, config=config, local_files_only=hub_offline())
    except OSError as error:
        if local.exists():
            raise UserError(f"{flag} {source}: its weights cannot be loaded ({error})") from None
        raise offline_hint(source, what, flag, error) from None
    except (RuntimeError, ValueError) as error:  # transformers' size-mismatch report, a damaged config's values
        raise UserError(f"{flag} {source}: its weights do not fit its config.json "
                        f"({str(error).splitlines()[0][:120] if str(error) else type(error).__name__})") from None
    return Loaded(model.to(device).eval(), source, hub_revision(source), device)

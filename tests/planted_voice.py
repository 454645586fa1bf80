"""A planted speaker for voice adapters: a random-weight Bark (the base) and a "speaker" version of it whose coarse
and fine models carry a known low-rank change in exactly the layers LoRA adapts. Tokens the speaker version
generates are the training set: a correct trainer brings the base's held-out NLL on them close to the speaker
model's own, which no prompt can do; a trainer fed misaligned examples cannot."""

from __future__ import annotations

import shutil
from pathlib import Path

import builders
import torch

from bark_clone.voices.adapters import LORA_TARGETS
from bark_clone.voices.folder import STAGES

# A random Bark's logits are nearly flat (std 0.1): sharper output heads give its tokens something to say. The fine
# model's heads are its input embeddings too (tied), so a smaller gain keeps its layers, where the change is, heard.
HEAD_GAINS = {"coarse_acoustics": 20.0, "fine_acoustics": 5.0}
PLANTED_RANK = 4
# Size of the change relative to a weight matrix's own norm: large enough to be heard through the sharpened heads,
# small enough that the tokens still depend on the ones before them (at 3x the coarse model's became nearly
# context-free, and even a misaligned trainer matched them).
PLANTED_SCALES = {"coarse_acoustics": 1.0, "fine_acoustics": 3.0}


def _save(model, processor_folder: Path, folder: Path) -> None:
    if folder != processor_folder:
        shutil.copytree(processor_folder, folder, dirs_exist_ok=True)
    model.save_pretrained(folder)


def build_planted_pair(root: Path, size: str = "tiny", seed: int = 0, semantic_tokens: int = 96) -> tuple[Path, Path]:
    """(base folder, speaker folder): Bark with sharpened output heads, and the same plus the planted change."""
    from transformers import BarkModel

    base = builders.build_bark(root / "base", size=size, seed=seed, semantic_max_new_tokens=semantic_tokens)
    model = BarkModel.from_pretrained(base)
    with torch.no_grad():
        for attribute in STAGES.values():
            stage = getattr(model, attribute)
            heads = stage.lm_heads if hasattr(stage, "lm_heads") else [stage.lm_head]
            for head in heads:
                head.weight.mul_(HEAD_GAINS[attribute])
    _save(model, base, base)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for attribute in STAGES.values():
            for name, module in getattr(model, attribute).named_modules():
                if name.split(".")[-1] in LORA_TARGETS and isinstance(module, torch.nn.Linear):
                    out_features, in_features = module.weight.shape
                    left = torch.randn(out_features, PLANTED_RANK, generator=generator)
                    right = torch.randn(PLANTED_RANK, in_features, generator=generator)
                    change = left @ right
                    module.weight.add_(change * (PLANTED_SCALES[attribute] * module.weight.norm() / change.norm()))
    speaker = root / "speaker"
    _save(model, base, speaker)
    return base, speaker

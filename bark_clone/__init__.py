"""bark-clone: turn a voice recording into a Bark speaker prompt whose three token streams come from the same audio.

Use from Python::

    from bark_clone import load_models, make_speaker, load_bark, speak

    models = load_models()                       # HuBERT, the quantizer, EnCodec, the VAD, the speaker encoder
    speaker = make_speaker("me.wav", models)     # the best window of the recording, as a prompt
    speaker.write("speakers/me.npz")             # me.npz + me.json
    bark = load_bark("suno/bark-small")
    audio = speak(bark, speaker.prompt, "Hello, this is my cloned voice.", seed=1)  # (n,) float32 at 24 kHz

The names below are imported on first use, so ``import bark_clone`` (and the CLI) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .constants import VERSION as __version__

# public name -> the module that defines it
_EXPORTS = {
    "load_models": "prompting.pipeline",
    "make_speaker": "prompting.pipeline",
    "Models": "prompting.pipeline",
    "Speaker": "prompting.pipeline",
    "SpeakerPrompt": "prompting.format",
    "load_bark": "bark.core",
    "open_bark": "bark.core",
    "Bark": "bark.core",
    "speak": "bark.generation",
    "generate": "bark.generation",
    "Generation": "bark.generation",
    "Sampling": "options",
    "BarkOptions": "options",
    "ModelSources": "options",
    "load_decoder": "models.decoders",
    "speak_long": "speaking.longform",
    "SpeakingSession": "speaking.session",
    "SpeakingVoice": "speaking.longform",
    "speaker_reference": "speaking.longform",
    "SpeakStopped": "speaking.longform",
    "speak_script": "speaking.script",
    "parse_script": "speaking.script",
    "ScriptLine": "speaking.script",
    "load_recognizer": "models.recognizer",
    "WordsCheck": "speaking.consistency",
    "error_rate": "speaking.words",
    "LongFormSettings": "requests",
    "UserError": "errors",
    "train_voice": "voices.command",
    "load_voice": "voices.folder",
    "TrainVoiceRequest": "requests",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from .bark.core import Bark, load_bark, open_bark  # noqa: F401
    from .bark.generation import Generation, generate, speak  # noqa: F401
    from .errors import UserError  # noqa: F401
    from .models.decoders import load_decoder  # noqa: F401
    from .models.recognizer import load_recognizer  # noqa: F401
    from .options import BarkOptions, ModelSources, Sampling  # noqa: F401
    from .prompting.format import SpeakerPrompt  # noqa: F401
    from .prompting.pipeline import Models, Speaker, load_models, make_speaker  # noqa: F401
    from .requests import LongFormSettings, TrainVoiceRequest  # noqa: F401
    from .speaking.consistency import WordsCheck  # noqa: F401
    from .speaking.longform import SpeakingVoice, SpeakStopped, speak_long, speaker_reference  # noqa: F401
    from .speaking.script import ScriptLine, parse_script, speak_script  # noqa: F401
    from .speaking.session import SpeakingSession  # noqa: F401
    from .speaking.words import error_rate  # noqa: F401
    from .voices.command import train_voice  # noqa: F401
    from .voices.folder import load_voice  # noqa: F401


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'bark_clone' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

"""The public Python API: the README's "Use from Python" example runs as written, with the tiny models."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

import bark_clone

README = Path(__file__).parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Use from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_public_names_are_listed_typed_and_documented():
    for name in bark_clone.__all__:
        value = getattr(bark_clone, name)
        if callable(value):
            assert value.__doc__, f"bark_clone.{name} has no docstring"
    for function in (bark_clone.load_models, bark_clone.make_speaker, bark_clone.load_bark, bark_clone.speak):
        assert "return" in function.__annotations__, f"{function.__name__} has no return annotation"
    assert bark_clone.SpeakerPrompt.__module__ == "bark_clone.prompting.format"


def test_importing_the_package_loads_no_model_code():
    code = "import sys, bark_clone; print(sorted(m for m in ('torch', 'transformers', " \
           "'bark_clone.prompting.pipeline') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_readme_example_runs_with_the_tiny_models(tiny, arctic, tmp_path, monkeypatch, bark_checks):
    code = readme_example()
    replacements = {'"facebook/hubert-base-ls960"': repr(str(tiny["hubert"])),
                    '"facebook/encodec_24khz"': repr(str(tiny["encodec"])),
                    'quantizer="en"': f"quantizer={str(tiny['quantizer'])!r}",
                    '"suno/bark-small"': repr(str(tiny["bark"])), '"me.wav"': repr(str(arctic))}
    for old, new in replacements.items():
        assert old in code, f"the README example no longer contains {old}"
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    speaker = namespace["speaker"]
    loaded = bark_clone.SpeakerPrompt.load(tmp_path / "me.npz")
    np.testing.assert_array_equal(loaded.semantic_tokens, speaker.prompt.semantic_tokens)
    assert (tmp_path / "me.json").exists()
    bark_checks(tmp_path / "me.npz")
    audio, rate = soundfile.read(tmp_path / "hello.wav")
    assert rate == 24_000 and len(audio) == len(namespace["audio"]) > 0
    report = namespace["report"]
    assert len(report["chunks"]) >= 2 and report["reference"]["kind"] == "recording"  # found through me.json
    assert abs(len(namespace["story_audio"]) / 24_000 - report["duration"]) < 1e-3

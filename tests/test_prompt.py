"""The speaker-prompt format: Bark's checks, inspect's verdict, and safe loading."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest
from hostile import Exploit

from bark_clone.errors import UserError
from bark_clone.prompting.format import SpeakerPrompt, bark_usage, check_arrays


def _valid(n_frames: int = 300, seed: int = 0) -> SpeakerPrompt:
    rng = np.random.default_rng(seed)
    n_tokens = round(n_frames * 49.9 / 75)
    return SpeakerPrompt.from_streams(rng.integers(0, 10_000, n_tokens), rng.integers(0, 1024, (8, n_frames)))


def test_every_bark_preset_passes_inspect(bark_presets, run_cli):
    for preset in bark_presets:
        result = run_cli("inspect", preset)
        assert result.exit_code == 0, (preset, result.output)
        assert "verdict: PASS" in result.output


def test_inspect_json_reports_shapes_usage_and_checks(tmp_path, run_cli):
    path = tmp_path / "voice.npz"
    _valid(800).save(path)  # 10.7 s: longer than Bark reads
    result = run_cli("inspect", path, "--json")
    report = json.loads(result.output)
    assert result.exit_code == 0 and report["pass"] is True
    assert report["arrays"]["fine_prompt"] == {"shape": [8, 800], "dtype": "int64"}
    assert report["bark_reads"]["text_model_semantic_tokens"] == 256
    assert report["bark_reads"]["fine_model_frames"] == 512
    assert report["bark_reads"]["coarse_model_frames"] < 320


@pytest.mark.parametrize(
    "damage, message, bark_rejects",
    [
        (lambda a: a.update(semantic_prompt=a["semantic_prompt"] + 10_000), "values must lie in 0..9999", True),
        (lambda a: a.update(coarse_prompt=a["fine_prompt"][:3]), "must have 2 rows", True),
        (lambda a: a.update(fine_prompt=a["fine_prompt"][:7]), "must have 8 rows", True),
        (lambda a: a.update(fine_prompt=a["fine_prompt"] + 1024), "values must lie in 0..1023", True),
        (lambda a: a.update(semantic_prompt=a["semantic_prompt"][:100]), "Bark requires 1.5", True),
        # Bark's asserts let these through, but its models would index garbage or mix two recordings:
        (lambda a: a.update(semantic_prompt=a["semantic_prompt"].astype(np.float32)), "must hold integers", False),
        (lambda a: a.update(coarse_prompt=a["coarse_prompt"][::-1].copy()), "not fine_prompt\\[:2\\]", False),
    ],
)
def test_inspect_fails_prompts_bark_would_reject(tmp_path, run_cli, bark_checks, damage, message, bark_rejects):
    arrays = _valid().arrays
    damage(arrays)
    path = tmp_path / "broken.npz"
    np.savez(path, **arrays)
    result = run_cli("inspect", path)
    assert result.exit_code == 1
    assert "verdict: FAIL" in result.output
    assert any(re.search(message, line) for line in result.output.splitlines()), result.output
    if bark_rejects:
        with pytest.raises(AssertionError):  # and Bark itself agrees
            bark_checks(path)


def test_bark_check_harness_passes_a_valid_prompt(tmp_path, bark_checks):
    path = tmp_path / "ok.npz"
    _valid().save(path)
    bark_checks(path)


def test_validate_speaks_in_the_users_terms():
    short = _valid(30)
    with pytest.raises(ValueError, match=r"covers 0.4 s; Bark needs at least about 1 s"):
        short.validate()
    _valid(75).validate()


def test_save_writes_exactly_three_int64_arrays_and_refuses_to_overwrite(tmp_path):
    path = tmp_path / "voice.npz"
    _valid().save(path)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["coarse_prompt", "fine_prompt", "semantic_prompt"]
        assert all(archive[key].dtype == np.int64 for key in archive.files)
    before = path.read_bytes()
    with pytest.raises(UserError, match="already exists"):
        _valid(seed=1).save(path)
    assert path.read_bytes() == before
    _valid(seed=1).save(path, force=True)
    assert path.read_bytes() != before
    assert not list(tmp_path.glob(".*.tmp"))


def test_loading_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    arrays = _valid().arrays
    np.savez(path, **arrays, extra=np.array([Exploit(marker)], dtype=object))
    with pytest.raises(UserError, match="Python objects"):
        SpeakerPrompt.load(path)
    assert not marker.exists()
    (tmp_path / "raw.npz").write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(UserError, match="not an .npz"):
        SpeakerPrompt.load(tmp_path / "raw.npz")
    assert not marker.exists()


def test_uint16_and_extra_keys_are_warnings_not_failures():
    arrays = {key: value.astype(np.uint16) for key, value in _valid().arrays.items()}
    arrays["notes"] = np.zeros(3)
    checks = {check.name: check for check in check_arrays(arrays)}
    assert all(check.ok for check in checks.values() if check.hard)
    assert not checks["int64"].ok and not checks["only prompt keys"].ok


def test_bark_usage_matches_bark_history_limits():
    usage = bark_usage(600, 902)
    assert usage["text_model_semantic_tokens"] == 256
    assert usage["coarse_model_semantic_tokens"] == 209  # floor(630 / (75 / 49.9 * 2))
    assert usage["fine_model_frames"] == 512
    small = bark_usage(100, 150)
    assert small["text_model_semantic_tokens"] == 100 and small["fine_model_frames"] == 150


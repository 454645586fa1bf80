"""Voices in the server: a voice folder in --speakers is a speaker; one base Bark serves several voices, and two
voices' requests at the same time each come out exactly as that voice alone."""

from __future__ import annotations

import concurrent.futures
import shutil

import httpx
import pytest
from support import serving
from test_voices import phrases, train_arguments  # noqa: F401 - the recording fixture is shared

from bark_clone.options import BarkOptions, ModelSources
from bark_clone.server.app import create_app
from bark_clone.server.service import ModelHub, ServiceConfig

TEXT = {"a": "Good morning to you all.", "b": "Good morning to you all."}  # the same words: only the voice differs


def server_config(tiny, folder) -> ServiceConfig:
    return ServiceConfig(speakers=folder, bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                         models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                             quantizer=str(tiny["quantizer"])),
                         workers=2, queue_size=8)


def spoken(base: str, name: str) -> bytes:
    answer = httpx.post(f"{base}/speak", json={"name": name, "text": TEXT[name], "seed": 5}, timeout=300)
    assert answer.status_code == 200, answer.text
    return answer.content


@pytest.mark.slow
def test_two_voices_at_once_never_mix(run_cli, phrases, tiny, tmp_path):  # noqa: F811
    for name, seed in (("a", "1"), ("b", "2")):
        assert run_cli(*train_arguments(phrases, tiny, name, "--seed", seed, "--steps", "12")).exit_code == 0
    alone, together = tmp_path / "alone", tmp_path / "together"
    for folder in (alone, together):
        for name in ("a", "b"):
            shutil.copytree(tmp_path / name, folder / name)
    config = server_config(tiny, alone)
    with serving(create_app(config, ModelHub(config))) as base:
        listed = httpx.get(f"{base}/speakers").json()["speakers"]
        assert [speaker["name"] for speaker in listed] == ["a", "b"]
        assert httpx.get(f"{base}/speakers/a.npz").content == (alone / "a" / "prompt.npz").read_bytes()
        expected = {name: spoken(base, name) for name in ("a", "b")}  # one request at a time
        assert httpx.delete(f"{base}/speakers/b").status_code == 204 and not (alone / "b").exists()
    assert expected["a"] != expected["b"]
    config = server_config(tiny, together)  # a fresh server and cache: nothing is answered from memory
    with serving(create_app(config, ModelHub(config))) as base, concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [(name, pool.submit(spoken, base, name)) for name in ("a", "b", "a", "b")]
        results = [(name, future.result()) for name, future in futures]
    assert all(audio == expected[name] for name, audio in results)

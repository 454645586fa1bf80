"""Voice search: on a generator whose voice is a known function of the prompt, the search finds the closest
candidate, never loses its best, and resumes exactly; bootstraps from the tiny Bark pass Bark's own checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from recordings import RATE, Layout, main_speaker_phrase, silence
from standins import LevelStandIn, arctic_speech, prompt_level

from bark_clone.options import BarkOptions, ModelSources
from bark_clone.prompting.format import SpeakerPrompt
from bark_clone.requests import SearchRequest
from bark_clone.search.command import search_voice


@pytest.fixture(scope="module")
def phrases(tmp_path_factory, arctic_audio) -> str:
    """The ARCTIC speaker's phrase three times, with pauses: several windows and moves between them."""
    samples, rate = arctic_audio
    layout = Layout()
    for gain in (1.0, 0.8, 0.9):
        layout.add(silence(0.6))
        layout.add(main_speaker_phrase(samples, gain), "main_phrases")
    layout.add(silence(0.6))
    return str(layout.write(tmp_path_factory.mktemp("phrases") / "phrases.wav"))


def request_for(phrases, tiny, tmp_path, work: str, steps: int, output: str = "best.npz", **extra) -> SearchRequest:
    return SearchRequest(recordings=[phrases], output=tmp_path / output, work=tmp_path / work,
                         bark=BarkOptions(source=str(tiny["bark"]), device="cpu"), steps=steps, keep=2,
                         models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                             quantizer=str(tiny["quantizer"])), max_seconds=6.0, **extra)


def test_search_finds_the_closest_voice_and_never_loses_its_best(phrases, tiny, tmp_path, arctic):
    standin = LevelStandIn(arctic_speech(arctic, pad_seconds=0))
    sidecar = search_voice(request_for(phrases, tiny, tmp_path, "work", steps=3), generator=standin, progress=False)
    best = SpeakerPrompt.load(tmp_path / "best.npz")
    assert prompt_level(best) == 0  # the speaker's own voice: two bootstraps below any window
    state = json.loads((tmp_path / "work" / "search.json").read_text())
    scored = [entry for entry in state["candidates"] if entry["rejected"] is None]
    kinds = {entry["kind"] for entry in state["candidates"]}
    assert kinds == {"window", "preset", "bootstrap"}
    assert max(entry["score"] for entry in scored) == sidecar["score"]["score"]
    history = [entry["score"] for entry in state["history"]]
    assert [entry["step"] for entry in state["history"]] == [0, 1, 2, 3]
    assert all(later >= earlier for earlier, later in zip(history, history[1:]))
    assert history[-1] > history[0]  # the windows alone (level >= 4) were worse
    for entry in scored:  # the GE2E score tracks the construction: no level-L candidate beats a level-0 one
        assert entry["score"] <= sidecar["score"]["score"]
    lineage = sidecar["lineage"]
    assert lineage[0]["kind"] in ("window", "preset") and [step["kind"] for step in lineage[1:]] == ["bootstrap"] * 2
    assert sidecar["score"]["target_similarity"] > 0.75 and (tmp_path / "work" / "top-2.npz").exists()
    make_speakers_fields = {"tool", "created", "sources", "window", "selection", "durations", "prompt", "level",
                            "models"}  # pipeline.sidecar's: the page and speak read a search's result the same way
    assert make_speakers_fields - {"window"} <= set(sidecar) and sidecar["durations"]["prompt_seconds"] > 1
    assert ("window" in sidecar) == any(step["kind"] == "window" for step in lineage)  # a stock voice's has none
    assert (tmp_path / "work" / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lengths = [len(SpeakerPrompt.load(tmp_path / "work" / "candidates" / f"{e['id']}.npz").semantic_tokens)
               for e in scored]
    assert all(length > 0 for length in lengths)


@pytest.mark.slow
def test_a_resumed_search_equals_an_uninterrupted_one_and_rescores_nothing(phrases, tiny, tmp_path, arctic):
    speaker = arctic_speech(arctic, pad_seconds=0)
    straight = search_voice(request_for(phrases, tiny, tmp_path, "straight", 3, "a.npz"), LevelStandIn(speaker),
                            progress=False)
    first = LevelStandIn(speaker)
    search_voice(request_for(phrases, tiny, tmp_path, "resumed", 1, "b.npz"), first, progress=False)
    scored_before = len(json.loads((tmp_path / "resumed" / "search.json").read_text())["candidates"])
    second = LevelStandIn(speaker)
    resumed = search_voice(request_for(phrases, tiny, tmp_path, "resumed", 3, "c.npz"), second, progress=False)
    documents = [json.loads((tmp_path / name / "search.json").read_text()) for name in ("straight", "resumed")]
    assert [(e["id"], e["score"]) for e in documents[0]["candidates"]] == \
        [(e["id"], e["score"]) for e in documents[1]["candidates"]]
    assert documents[0]["history"] == documents[1]["history"]
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "c.npz").read_bytes()
    assert resumed["lineage"] == straight["lineage"]
    assert second.scoring_calls == len(documents[1]["candidates"]) - scored_before  # only the new ones


def test_bootstraps_from_the_tiny_bark_pass_barks_checks(bark_checks, tmp_path):
    import builders

    from bark_clone.bark.bootstrap import prompt_from_generation
    from bark_clone.bark.core import load_bark
    from bark_clone.bark.generation import generate
    from bark_clone.constants import semantic_length_for_frames

    # 96 semantic tokens (about 1.9 s): the random Bark never ends by itself, and a prompt needs at least 1 s
    bark = load_bark(str(builders.build_bark(tmp_path / "bark", semantic_max_new_tokens=96)), "cpu")
    voice = SpeakerPrompt.from_streams(np.random.default_rng(1).integers(0, 10_000, 100),
                                       np.random.default_rng(2).integers(0, 1024, (8, 150)))
    for index, generation in enumerate(generate(bark, ["hello this is a test", "the voice"], seed=4, voice=voice)):
        prompt = prompt_from_generation(generation, max_seconds=14)
        n_frames = prompt.fine_codes.shape[1]
        assert len(prompt.semantic_tokens) == semantic_length_for_frames(n_frames)
        np.testing.assert_array_equal(prompt.fine_codes, generation.fine_codes[:, -n_frames:])  # ends together
        np.testing.assert_array_equal(prompt.semantic_tokens,
                                      generation.semantic_tokens[-len(prompt.semantic_tokens):])
        path = tmp_path / f"boot{index}.npz"
        prompt.save(path)
        bark_checks(path)


def test_search_refuses_bad_input_with_one_line(run_cli, tiny, model_args, tmp_path, phrases):
    import shutil

    (tmp_path / "taken.npz").write_bytes(b"mine")
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, 0.001 * np.random.default_rng(0).standard_normal(3 * RATE).astype(np.float32), RATE)
    no_config = tmp_path / "bark-no-config"
    shutil.copytree(tiny["bark"], no_config)
    (no_config / "generation_config.json").unlink()
    common = [*model_args, "--bark", tiny["bark"]]
    cases = {
        "steps 0": ([phrases, "-o", "out.npz", "--work", "w", "--steps", "0", *common], "--steps must be at least 1"),
        "no budget": ([phrases, "-o", "out.npz", "--work", "w", *common], "give the search a budget"),
        "exists": ([phrases, "-o", "taken.npz", "--work", "w", "--steps", "1", *common], "pass --force"),
        "no speech": ([silent, "-o", "out.npz", "--work", "w", "--steps", "1", *common], "speech"),
        "no generation config": ([phrases, "-o", "out.npz", "--work", "w", "--steps", "1", *model_args, "--bark",
                                  no_config], "has no usable generation_config.json"),
    }
    for name, (arguments, message) in cases.items():
        result = run_cli("search", *arguments)
        assert result.exit_code == 1, (name, result.output)
        assert message in result.stderr and result.stderr.count("\n") == 1, (name, result.stderr)
        assert not (tmp_path / "out.npz").exists() and (tmp_path / "taken.npz").read_bytes() == b"mine", name


def test_search_command_with_the_tiny_bark_rejects_silent_candidates_and_says_why(run_cli, tiny, model_args,
                                                                                   tmp_path, phrases):
    """The real path, Bark included: the random tiny Bark speaks no speech, so every candidate is rejected (not
    scored on noise), the reasons are kept in search.json, and no prompt is written."""
    arguments = [phrases, "-o", "out.npz", "--work", "w", "--steps", "2", "--keep", "2", *model_args, "--bark",
                 tiny["bark"], "--max-seconds", "6"]
    result = run_cli("search", *arguments)
    assert result.exit_code == 1 and "no candidate could be scored" in result.stderr, result.output
    assert "mostly silence" in result.stderr and not (tmp_path / "out.npz").exists()
    state = json.loads((tmp_path / "w" / "search.json").read_text())
    assert state["candidates"] and all("mostly silence" in entry["rejected"] for entry in state["candidates"])
    assert {entry["kind"] for entry in state["candidates"]} == {"window", "preset"}
    again = run_cli("search", *arguments)  # resuming meets the same verdict without generating again
    assert again.exit_code == 1 and "no candidate could be scored" in again.stderr


@pytest.mark.slow
def test_server_searches_in_its_queue_and_reports_the_best_so_far(client, phrases, arctic, monkeypatch, config):
    import time

    from bark_clone.speaking import longform

    standin = LevelStandIn(arctic_speech(arctic, pad_seconds=0))
    monkeypatch.setattr(longform, "bark_generator", lambda bark, **options: standin)
    with open(phrases, "rb") as handle:
        created = client.post("/speakers", data={"name": "me", "search_minutes": "0.15"},
                              files={"audio": ("phrases.wav", handle.read())})
    assert created.status_code == 201 and created.json()["status"] == "searching"
    seen, deadline = [], time.time() + 120
    while time.time() < deadline:
        metadata = client.get("/speakers/me").json()
        seen.append((metadata["status"], metadata.get("search", {}).get("best_score")))
        if metadata["status"] == "ready":
            break
        time.sleep(0.2)
    assert metadata["status"] == "ready" and "error" not in metadata["search"], metadata.get("search")
    assert any(status == "searching" and score is not None for status, score in seen)  # the best so far, live
    scores = [score for _, score in seen if score is not None]
    assert scores == sorted(scores)  # never decreases
    assert metadata["method"] == "search" and metadata["score"]["score"] == metadata["search"]["best_score"]
    assert prompt_level(SpeakerPrompt.load(config.speakers / "me.npz")) < 4  # better than any window
    assert not (config.speakers / ".search").exists() or not list((config.speakers / ".search").iterdir())


def test_a_search_that_breaks_unexpectedly_still_ends_visibly(client, arctic, monkeypatch):
    import time

    from bark_clone.search import command as searching

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire at /srv/private/path")

    monkeypatch.setattr(searching, "search_recordings", broken)
    created = client.post("/speakers", data={"name": "me", "search_minutes": "0.1"},
                          files={"audio": ("me.wav", arctic.read_bytes())})
    assert created.status_code == 201 and created.json()["status"] == "searching"
    deadline = time.time() + 60
    while client.get("/speakers/me").json()["status"] == "searching" and time.time() < deadline:
        time.sleep(0.1)
    metadata = client.get("/speakers/me").json()
    assert metadata["status"] == "ready" and metadata["search"]["error"] == \
        "the search stopped: internal error (RuntimeError)"
    assert "/srv/private" not in str(metadata)


@pytest.mark.parametrize("max_seconds, expected", [
    (8.0, {(6.4, 8.8), (3.4, 5.8)}),  # one phrase fewer at either side; one more would pass 8 s
    (9.0, {(6.4, 8.8), (3.4, 5.8), (0.4, 8.8), (3.4, 11.8)}),  # now one more phrase fits at either side
])
def test_window_moves_go_one_phrase_either_way_and_stay_valid_windows(max_seconds, expected):
    from types import SimpleNamespace

    from bark_clone.audio.speech import Segment
    from bark_clone.prompting.selection import candidate_windows
    from bark_clone.search.candidates import window_moves

    # four 2 s phrases with 1 s pauses; the window holds phrases 2 and 3 (0.1 s lead, 0.3 s tail)
    segments = [Segment(0.5 + 3 * index, 2.5 + 3 * index) for index in range(4)]
    recording = SimpleNamespace(segments=segments, audio=SimpleNamespace(duration=12.5))
    moves = window_moves(recording, 3.4, 8.8, max_seconds)
    assert set(moves) == expected and len(moves) == len(expected)
    valid = {(round(start, 3), round(end, 3)) for start, end, _ in candidate_windows(segments, 12.5, max_seconds)}
    assert set(moves) <= valid and (3.4, 8.8) not in moves
    assert window_moves(recording, 0.4, 2.8, max_seconds) == [(0.4, 5.8)]  # the first phrase can only grow


@pytest.fixture(scope="module")
def bark_with_real_presets(tiny, tmp_path_factory):
    """The tiny Bark serving two of the bark wheel's real v2 presets through speaker_embeddings_path.json, as the
    hub's suno/bark serves them (their coarse codes are stored Fortran-ordered)."""
    import importlib.util
    import shutil
    from pathlib import Path

    presets = Path(importlib.util.find_spec("bark").submodule_search_locations[0]) / "assets" / "prompts" / "v2"
    folder = tmp_path_factory.mktemp("real-presets") / "bark"
    shutil.copytree(tiny["bark"], folder)
    index = {"repo_or_path": str(folder)}
    for name in ("en_speaker_0", "en_speaker_1"):
        index[f"v2/{name}"] = {}
        with np.load(presets / f"{name}.npz", allow_pickle=False) as archive:
            for key in archive.files:
                relative = f"speaker_embeddings/v2/{name}_{key}.npy"
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                np.save(folder / relative, archive[key])  # as stored: coarse_prompt keeps fortran_order
                index[f"v2/{name}"][key] = relative
    (folder / "speaker_embeddings_path.json").write_text(json.dumps(index), encoding="utf-8")
    return folder


def test_a_search_with_real_stock_voices_survives_its_steps_and_a_reload(bark_with_real_presets, phrases, tiny,
                                                                          tmp_path, arctic):
    from bark_clone.bark.core import load_bark
    from bark_clone.search.candidates import preset_prompt
    from bark_clone.search.state import SearchState, load_state

    bark = load_bark(str(bark_with_real_presets), "cpu")
    prompt = preset_prompt(bark, "v2/en_speaker_0")
    assert prompt.coarse_codes.flags["C_CONTIGUOUS"] and prompt.fine_codes.dtype == np.int64
    request = request_for(phrases, tiny, tmp_path, "work", steps=2)
    request.bark = BarkOptions(source=str(bark_with_real_presets), device="cpu")
    standin = LevelStandIn(arctic_speech(arctic, pad_seconds=0))
    search_voice(request, generator=standin, progress=False)  # crashed after the first step (KeyError)
    document = json.loads((tmp_path / "work" / "search.json").read_text())
    assert {entry["kind"] for entry in document["candidates"]} >= {"preset", "window", "bootstrap"}
    state = load_state(tmp_path / "work", document["identity"])
    assert isinstance(state, SearchState) and state.population == document["population"]
    assert all(identifier == candidate.id for identifier, candidate in state.candidates.items())
    preset = next(c for c in state.candidates.values() if c.kind == "preset")
    assert preset.prompt.content_id() == SpeakerPrompt.load(tmp_path / "work" / "candidates" /
                                                            f"{preset.id}.npz").content_id()


def test_all_candidates_of_a_step_are_scored_in_one_bark_batch(tiny, monkeypatch):
    """Every candidate x sentence is a row of one generation (or of --batch-size rows), and each row is seeded on
    its own, so a candidate hears exactly the same generations in any batch."""
    from bark_clone.bark import generation
    from bark_clone.bark.core import load_bark
    from bark_clone.search import candidates as module
    from bark_clone.search.candidates import Candidate, score_candidates
    from bark_clone.speaking.longform import bark_generator

    bark = load_bark(str(tiny["bark"]), "cpu")
    rng = np.random.default_rng(0)
    pool = [Candidate(SpeakerPrompt.from_streams(rng.integers(0, 10_000, 200), rng.integers(0, 1024, (8, 300))),
                      "window", []) for _ in range(3)]
    calls, heard = [], []
    original = generation.generate_batch
    monkeypatch.setattr(generation, "generate_batch", lambda bark, rows, *a, **k: calls.append(len(rows)) or
                        original(bark, rows, *a, **k))
    monkeypatch.setattr(module, "judge_candidate", lambda candidate, generations, *a: heard.append(
        [generation.fine_codes for generation in generations]))
    sentences = ["one sentence", "another one"]
    score_candidates(pool, bark_generator(bark), sentences, 3, None, None, None)
    assert calls == [6]
    score_candidates(pool, bark_generator(bark, batch_size=4), sentences, 3, None, None, None)
    assert calls == [6, 4, 2]
    together, split = heard[:3], heard[3:]
    for first, second in zip(together, split):
        assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(together[0][0], together[1][0])  # the voices differ

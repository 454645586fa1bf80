"""Careless and damaged inputs get one plain line, never an "unexpected X", and nothing is written."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import builders
import pytest
import torch
from hostile import Exploit
from support import read_only_place


def test_a_read_only_output_folder_is_refused_before_any_work(arctic):
    with read_only_place(arctic) as (folder, run):
        result = run(["make-speaker", folder / "me.wav", "-o", folder / "ro", "--hubert", "/nonexistent/hubert"])
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith(f"error: cannot write into folder {folder / 'ro'}")
        assert result.stderr.count("\n") == 1  # before the (missing) HuBERT was ever looked at
        assert not list((folder / "ro").iterdir())


def damaged_quantizer_folders(root: Path, good: Path) -> dict[str, Path]:
    """Copies of a good quantizer folder, each with its config.json damaged another way."""
    document = json.loads((good / "config.json").read_text())
    variants = {
        "not json": b"{ this is not json",
        "not utf-8": b"\xff\xfe\x00garbage",
        "model is a list": json.dumps({**document, "model": []}).encode(),
        "version is text": json.dumps({**document, "format_version": "two"}).encode(),
        "size is text": json.dumps({**document, "model": {**document["model"], "input_size": "wide"}}).encode(),
        "no model": json.dumps({key: value for key, value in document.items() if key != "model"}).encode(),
    }
    folders = {}
    for name, content in variants.items():
        folder = root / name.replace(" ", "-")
        shutil.copytree(good, folder)
        (folder / "config.json").write_bytes(content)
        folders[name] = folder
    return folders


def damaged_gitmylo_files(root: Path) -> dict[str, Path]:
    """Published-format files whose .info entry is not JSON, or holds text where sizes belong."""
    files = {}
    for name, info in {"info not json": b"{nope", "info sizes as text": b'{"input_size": "32", "version": 0}',
                       "info not utf-8": b"\xff\xfe"}.items():
        path = builders.write_gitmylo_quantizer(root / f"{name.replace(' ', '-')}.pth", input_size=32)
        with zipfile.ZipFile(path) as archive:
            entries = {item: archive.read(item) for item in archive.namelist()}
        info_name = next(item for item in entries if item.endswith("/.info"))
        with zipfile.ZipFile(path, "w") as archive:
            for item, data in entries.items():
                archive.writestr(item, info if item == info_name else data)
        files[name] = path
    return files


def test_damaged_quantizer_files_are_one_line_errors(tmp_path, tiny, run_cli, model_args, arctic, generated):
    trained = run_cli("train-quantizer", "--data", generated, "--out", tmp_path / "good", "--arch", "linear",
                      "--hubert", tiny["hubert"], "--epochs", "1", "--device", "cpu")
    assert trained.exit_code == 0, trained.output
    cases = {**damaged_quantizer_folders(tmp_path / "folders", tmp_path / "good"),
             **damaged_gitmylo_files(tmp_path)}
    arguments = [arg for arg in model_args]
    for name, path in cases.items():
        arguments[arguments.index("--quantizer") + 1] = str(path)
        result = run_cli("make-speaker", arctic, "-o", tmp_path / f"{path.stem}.npz", *arguments)
        assert result.exit_code == 1 and "unexpected" not in result.stderr, (name, result.stderr)
        assert result.stderr.count("\n") == 1 and str(path) in result.stderr, (name, result.stderr)
        assert not (tmp_path / f"{path.stem}.npz").exists()


def test_a_hostile_or_damaged_training_checkpoint_is_refused_plainly(tmp_path, tiny, run_cli, generated):
    arguments = ["--data", generated, "--out", tmp_path / "run", "--arch", "linear", "--hubert", tiny["hubert"],
                 "--epochs", "2", "--device", "cpu"]
    first = run_cli("train-quantizer", *arguments[:-4], "--epochs", "1", "--device", "cpu")
    assert first.exit_code == 0, first.output
    state = tmp_path / "run" / "train_state.pt"
    marker = tmp_path / "pwned"
    torch.save({"model": Exploit(marker), "epoch": 1}, state)
    result = run_cli("train-quantizer", *arguments, "--resume")
    assert result.exit_code == 1 and not marker.exists()
    assert "is not a checkpoint this trainer wrote, or it is damaged" in result.stderr
    assert "weights_only" not in result.stderr and "unexpected" not in result.stderr
    state.write_bytes(state.read_bytes()[:100])  # truncated
    result = run_cli("train-quantizer", *arguments, "--resume")
    assert result.exit_code == 1 and "is not a checkpoint this trainer wrote" in result.stderr


@pytest.fixture()
def bark_without_generation_config(tiny, tmp_path) -> Path:
    folder = tmp_path / "bark-no-config"
    shutil.copytree(tiny["bark"], folder)
    (folder / "generation_config.json").unlink()
    return folder


def test_a_bark_folder_without_its_generation_config(bark_without_generation_config, run_cli, tmp_path, arctic,
                                                     model_args, config, hub):
    from fastapi.testclient import TestClient

    from bark_clone.server.app import create_app
    from bark_clone.server.service import ModelHub

    assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    result = run_cli("speak", "me.npz", "hello", "-o", "hello.wav", "--bark", bark_without_generation_config)
    assert result.exit_code == 1 and "has no usable generation_config.json" in result.stderr
    assert "unexpected" not in result.stderr and not (tmp_path / "hello.wav").exists()
    broken = replace(config, bark=replace(config.bark, source=str(bark_without_generation_config)))
    shared = ModelHub(broken)
    shared._speaker_models = hub.speaker_models()  # the make-speaker models load fine; only Bark is broken
    client = TestClient(create_app(broken, shared))
    assert client.post("/speakers", data={"name": "me"}, files={"audio": ("me.wav", arctic.read_bytes())}
                       ).status_code == 201
    response = client.get("/speak/me", params={"text": "hello"})
    assert response.status_code == 503 and "cannot load its Bark model" in response.json()["error"]
    assert str(bark_without_generation_config) not in response.text


def test_outputs_are_readable_like_any_file(run_cli, arctic, model_args, tmp_path):
    previous = os.umask(0o022)
    try:
        assert run_cli("make-speaker", arctic, "-o", "me.npz", *model_args).exit_code == 0
    finally:
        os.umask(previous)
    for name in ("me.npz", "me.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_non_finite_numbers_are_refused(run_cli, arctic, model_args):
    for value in ("nan", "inf", "-inf"):
        result = run_cli("make-speaker", arctic, "--max-seconds", value, *model_args)
        assert result.exit_code == 2 and "is not a finite number" in result.output, result.output


def test_server_messages_name_form_fields_not_cli_options(client, arctic):
    response = client.post("/speakers", data={"name": "me", "max_seconds": "0.5"},
                           files={"audio": ("me.wav", arctic.read_bytes())})
    assert response.status_code == 422 and "max_seconds" in response.json()["error"]
    assert "--" not in response.json()["error"]


def test_progress_bars_are_quiet_in_logs_and_shown_on_terminals(monkeypatch):
    import io

    from bark_clone.progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    for _ in progress_bar(range(500), desc="quiet", file=log, mininterval=0):
        pass
    assert log.getvalue() == ""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    for _ in progress_bar(range(5), desc="shown", file=terminal, mininterval=0):
        pass
    assert "shown" in terminal.getvalue()

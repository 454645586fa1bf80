"""The server against careless and hostile clients, and after a crash: names, paths, binding, leftovers."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from fastapi.testclient import TestClient

from bark_clone.errors import ApiError
from bark_clone.server.app import create_app
from bark_clone.server.jobs import SpeakPlan, speak_job
from bark_clone.server.speakers import PROCESS, STALE_SECONDS


def upload(client, name: str, arctic) -> object:
    return client.post("/speakers", data={"name": name}, files={"audio": ("me.wav", arctic.read_bytes())})


def test_names_are_matched_whole(client, arctic):
    assert upload(client, "bob\n", arctic).status_code == 400
    assert client.get("/speakers/alice%0A").status_code == 400
    assert client.get("/speakers/alice").status_code == 404
    assert not list(client.app.state.service.config.speakers.glob("*\n*"))


def test_clients_never_see_server_paths(client, arctic, config, tiny):
    created = upload(client, "me", arctic)
    assert created.status_code == 201
    served = [created.text, client.get("/speakers/me").text, client.get("/speakers").text]
    for text in served:
        for private in (str(config.speakers.resolve()), str(tiny["hubert"]), str(tiny["quantizer"]), "/tmp/"):
            assert private not in text, (private, text[:300])
    metadata = client.get("/speakers/me").json()
    assert metadata["models"]["hubert"]["source"] == tiny["hubert"].name  # the folder's name, not where it lives
    on_disk = json.loads((config.speakers / "me.json").read_text())
    assert on_disk["models"]["hubert"]["source"] == str(tiny["hubert"])  # the CLI user's file keeps the full path


def test_a_speaker_deleted_while_its_job_waits_is_a_404_without_a_path(client, arctic, config):
    assert upload(client, "gone", arctic).status_code == 201
    service = client.app.state.service
    assert client.delete("/speakers/gone").status_code == 204
    with pytest.raises(ApiError) as caught:  # what the queued job meets when it finally runs
        speak_job(service, SpeakPlan(0, "key", name="gone", text="hello"))
    assert caught.value.status == 404 and str(config.speakers) not in caught.value.message
    message = service.public_message(f"no such prompt file: {config.speakers.resolve() / 'gone.npz'}")
    assert message == "no such prompt file: gone.npz"


def test_binding_beyond_loopback_needs_a_token_whatever_the_name_looks_like(run_cli, monkeypatch):
    from bark_clone.server.guard import loopback_only

    real = socket.getaddrinfo
    fake = {"127.evil.test": "203.0.113.7", "mixed.test": "127.0.0.1"}

    def resolve(host, *args, **kwargs):
        if host == "mixed.test":
            return [(socket.AF_INET, 0, 0, "", ("127.0.0.1", 0)), (socket.AF_INET, 0, 0, "", ("198.51.100.1", 0))]
        if host in fake:
            return [(socket.AF_INET, 0, 0, "", (fake[host], 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert loopback_only("127.0.0.1") and loopback_only("localhost") and loopback_only("::1")
    assert not loopback_only("127.evil.test") and not loopback_only("mixed.test")
    for host in ("127.evil.test", "mixed.test", "0.0.0.0"):
        result = run_cli("serve", "--host", host)
        assert result.exit_code == 1 and "pass --token" in result.stderr, (host, result.output)


def test_start_up_repairs_what_a_killed_server_left(config, hub, arctic):
    first = TestClient(create_app(config, hub))
    assert upload(first, "kept", arctic).status_code == 201
    folder = config.speakers
    (folder / ".uploads" / "upload-abc").mkdir(parents=True)
    (folder / ".uploads" / "upload-abc" / "upload.wav").write_bytes(arctic.read_bytes())  # a user's voice
    (folder / "half.json").write_text("{}")  # its npz was never written
    (folder / ".kept.npz.123.tmp").write_bytes(b"partial")
    (folder / "bare.npz").write_bytes((folder / "kept.npz").read_bytes())  # an npz copied in by hand, no sidecar
    (folder / "fresh.json").write_text("{}")  # another process sharing the folder is writing this pair right now
    stale = time.time() - 2 * STALE_SECONDS  # what a killed server left is older than any write in progress
    for path in (folder / "half.json", folder / ".kept.npz.123.tmp"):
        os.utime(path, (stale, stale))
    client = TestClient(create_app(config, hub))
    assert (folder / "fresh.json").exists()
    (folder / "fresh.json").unlink()
    assert not (folder / ".uploads").exists() and not (folder / "half.json").exists()
    assert not list(folder.glob(".*.tmp"))
    names = [entry["name"] for entry in client.get("/speakers").json()["speakers"]]
    assert names == ["bare", "kept"]
    assert client.get("/speakers/bare").json() == {"name": "bare", "status": "ready"}
    assert client.get("/speakers/half").status_code == 404
    assert upload(client, "half", arctic).status_code == 201  # the name is free again


def test_uploads_wait_in_the_servers_own_folder_and_are_removed_after_the_job(client, arctic, config, monkeypatch):
    from bark_clone.server import app as server

    seen = []
    original = server.make_speaker_job

    def spy(service, name, upload_path, *args):
        seen.append(upload_path)
        return original(service, name, upload_path, *args)

    monkeypatch.setattr(server, "make_speaker_job", spy)
    assert upload(client, "me", arctic).status_code == 201
    assert seen and seen[0].is_relative_to(config.speakers / ".uploads" / PROCESS) and not seen[0].exists()
    assert not list((config.speakers / ".uploads" / PROCESS).iterdir())

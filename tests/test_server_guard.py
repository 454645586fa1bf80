"""The server's front door: token and size are checked before any body is read; nothing spools past the limit."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from support import serving

from bark_clone.server.app import create_app
from bark_clone.server.guard import bearer_matches

MB = 1024 * 1024


def test_bearer_scheme_is_case_insensitive_and_the_token_exact():
    assert bearer_matches("Bearer s3cret", "s3cret") and bearer_matches("bearer s3cret", "s3cret")
    assert bearer_matches("BEARER  s3cret ", "s3cret")
    assert not bearer_matches("Basic s3cret", "s3cret") and not bearer_matches("Bearer s3cre", "s3cret")
    assert not bearer_matches(None, "s3cret") and not bearer_matches("s3cret", "s3cret")


def test_token_is_checked_before_the_body_and_the_page_stays_public(config, hub):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(replace(config, token="s3cret"), hub))
    assert client.get("/").status_code == 200 and client.get("/openapi.json").status_code == 200
    refused = client.post("/speakers", data={"name": "x"}, files={"audio": ("a.wav", b"\0" * 4 * MB)})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert client.get("/speakers", headers={"Authorization": "bearer s3cret"}).status_code == 200


def test_a_declared_oversized_body_is_refused_before_reading(client, config):
    response = client.post("/speakers", content=b"x" * 10, headers={"content-length": str(2 * MB + 64 * 1024),
                                                                    "content-type": "multipart/form-data"})
    assert response.status_code == 413 and "larger than" in response.json()["error"]
    small_route = client.request("DELETE", "/speakers/x", content=b"x" * (200 * 1024))
    assert small_route.status_code == 413


class SpoolWatch:
    """Makes the multipart parser's spool files visible and kept (tempfile.TemporaryFile is anonymous on Linux and
    deleted on close), so the largest size any of them reached can be read afterwards."""

    def __init__(self, folder: Path, monkeypatch) -> None:
        self.folder = folder
        folder.mkdir()
        named = tempfile.NamedTemporaryFile

        def visible(**arguments):  # SpooledTemporaryFile passes dir=None itself
            return named(**{**arguments, "dir": folder, "delete": False})

        monkeypatch.setattr(tempfile, "TemporaryFile", visible)

    @property
    def largest(self) -> int:
        return max((path.stat().st_size for path in self.folder.iterdir()), default=0)


def chunked_upload(base: str, megabytes: int, headers: dict[str, str]) -> int | None:
    """POST a multipart body of ``megabytes`` MB sent chunked (no Content-Length); the status, or None if the
    server closed the connection before answering."""
    boundary = "guard-test-boundary"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig\r\n--{boundary}\r\n"
               f"Content-Disposition: form-data; name=\"audio\"; filename=\"big.wav\"\r\n\r\n").encode()
        for _ in range(megabytes):
            yield b"\0" * MB
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            return http.post("/speakers", content=body(), headers={
                "content-type": f"multipart/form-data; boundary={boundary}", **headers}).status_code
    except httpx.TransportError:
        return None


@pytest.mark.slow
def test_chunked_uploads_never_spool_past_the_limit(config, hub, tmp_path, monkeypatch):
    config = replace(config, token="s3cret", max_upload_bytes=2 * MB)
    watch = SpoolWatch(tmp_path / "spool", monkeypatch)
    with serving(create_app(config, hub)) as base:
        anonymous = chunked_upload(base, 50, {})
        anonymous_spool = watch.largest
        authorised = chunked_upload(base, 50, {"Authorization": "Bearer s3cret"})
    largest = watch.largest
    assert anonymous in (401, None) and anonymous_spool == 0  # refused before a byte was read
    assert authorised in (413, None) and largest <= config.max_upload_bytes + 16 * 1024
    assert largest > MB, largest  # the watch did see the parser spool to disk (past its 1 MB in memory)

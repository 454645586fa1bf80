"""Helpers the tests share: reading a dataset's shards, and running the CLI in its own process."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import soundfile


def shard_table(folder: Path, index: int):
    return pq.read_table(folder / "shards" / f"{index:05d}.parquet")


def assert_same_shards(first: Path, second: Path, n_shards: int = 2) -> None:
    """Every column equal; the decoded audio may differ by one 16-bit step, because EnCodec's float sums round
    differently with another thread count (torchrun runs one thread per process)."""
    for index in range(n_shards):
        a, b = shard_table(first, index), shard_table(second, index)
        for column in a.column_names:
            if column != "audio":
                assert a.column(column).equals(b.column(column)), (index, column)
        for blob_a, blob_b in zip(a.column("audio").to_pylist(), b.column("audio").to_pylist()):
            audio_a, audio_b = soundfile.read(io.BytesIO(blob_a))[0], soundfile.read(io.BytesIO(blob_b))[0]
            assert len(audio_a) == len(audio_b) and np.abs(audio_a - audio_b).max() <= 1.5 / 32768


def run_process(arguments: list[str], env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(arguments, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@contextlib.contextmanager
def serving(app):
    """uvicorn serving ``app`` on a free loopback port, in a thread; yields the base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def read_only_place(recording: Path):
    """A fresh folder holding ``recording`` (as ``me.wav``) and a read-only ``ro/``; yields (folder, run) where
    ``run(arguments)`` runs the CLI as an unprivileged user (root writes anywhere), so ``ro/`` really is read-only."""
    import shutil
    import sys
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="bark-clone-ro-"))
    folder.chmod(0o755)
    shutil.copy(recording, folder / "me.wav")
    (folder / "ro").mkdir(mode=0o555)
    (folder / "ro").chmod(0o555)
    drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []

    def run(arguments: list) -> subprocess.CompletedProcess:
        return subprocess.run([*drop, sys.executable, "-m", "bark_clone", *map(str, arguments)], capture_output=True,
                              text=True, timeout=120, cwd=Path(__file__).resolve().parents[1],
                              env={**os.environ, "HOME": str(folder)})

    try:
        yield folder, run
    finally:
        shutil.rmtree(folder, ignore_errors=True)

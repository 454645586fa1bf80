"""Hostile inputs shared by the tests: a pickle that would create a file if anything ever unpickled it."""

from __future__ import annotations

from pathlib import Path


class Exploit:
    """Unpickling this opens (creates) ``marker``: a test asserts the marker never appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))

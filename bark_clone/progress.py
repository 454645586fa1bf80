"""Progress bars for long work: tqdm on a terminal, silent in logs (a redirected run would otherwise get a line for
every update: thousands per training run)."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(iterable: Any = None, *, disable: bool = False, **options: Any):
    """``tqdm(iterable, **options)``, disabled when stderr is not a terminal or when ``disable`` is true."""
    from tqdm import tqdm

    quiet = disable or not sys.stderr.isatty()
    return tqdm(iterable, disable=quiet, dynamic_ncols=True, **options)

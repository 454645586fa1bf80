"""JSON that is always valid JSON: Python's ``json`` writes NaN and Infinity, which no other parser accepts, so every
JSON this project writes (here and in the app) goes through ``json_text``, and reads refuse those constants."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, in dicts, lists and tuples at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def json_text(value: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """``value`` as JSON text (non-ASCII kept), with non-finite numbers written as null."""
    return json.dumps(finite(value), indent=indent, ensure_ascii=False, allow_nan=False, sort_keys=sort_keys)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes) -> Any:
    """Strict JSON: NaN and Infinity are refused (``ValueError``), as is nesting too deep to parse
    (``RecursionError`` becomes ``ValueError``)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None

"""The voice search's state on disk, in ``--work``: ``search.json`` (every candidate with its kind, lineage, score
parts or why it was rejected, and the best score after each step), ``candidates/<id>.npz`` (every prompt),
``top-1.npz`` .. ``top-K.npz`` (the current best) and ``search.png`` (the best score against the step)."""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import figure_png, json_bytes, read_json_file, write_files_atomically
from ..prompting.format import SpeakerPrompt
from .candidates import Candidate

STATE_FILE = "search.json"
LOCK_FILE = ".search.lock"
FORMAT = "bark-clone-search"
FORMAT_VERSION = 2  # 2: candidate ids address the prompt's values (1 hashed its .npz bytes, which depend on layout)
MAX_STATE_BYTES = 64 * 1024 * 1024  # about 100 000 candidates; a real search makes hundreds
CANDIDATE_ID = re.compile(r"[0-9a-f]{16}")
KINDS = ("window", "preset", "bootstrap", "voice")
SCORE_PARTS = ("target_similarity", "self_similarity", "feature_similarity")


@dataclass
class SearchState:
    """Every candidate ever made (by id), the kept population, the step count and the history of the best."""

    identity: dict[str, Any]
    candidates: dict[str, Candidate] = field(default_factory=dict)
    population: list[str] = field(default_factory=list)
    step: int = 0
    stale: int = 0  # steps since the best score last improved
    history: list[dict[str, Any]] = field(default_factory=list)

    def add(self, candidate: Candidate, work: Path) -> None:
        path = work / "candidates" / f"{candidate.id}.npz"
        path.parent.mkdir(exist_ok=True)
        if not path.exists():
            write_files_atomically({path: candidate.prompt.npz_bytes()}, force=True)
        self.candidates[candidate.id] = candidate

    def ranked(self) -> list[Candidate]:
        """Every scored candidate, best first (ties by id, so the order never depends on the run)."""
        scored = [candidate for candidate in self.candidates.values() if candidate.rejected is None]
        return sorted(scored, key=lambda candidate: (-candidate.score, candidate.id))

    def best(self, count: int) -> list[Candidate]:
        return [self.candidates[identifier] for identifier in self.population[:count]]

    def finish_step(self, keep: int, initial: bool = False) -> None:
        """Keep the best ``keep``; record the best score; count a step without improvement."""
        previous = self.history[-1]["score"] if self.history else float("-inf")
        self.population = [candidate.id for candidate in self.ranked()[:keep]]
        if not initial:
            self.step += 1
        best = self.candidates[self.population[0]]
        self.stale = 0 if best.score > previous + 1e-9 else self.stale + 1
        self.history.append({"step": self.step, "best": best.id, "score": round(best.score, 4),
                             **{key: round(value, 4) for key, value in best.scores.items() if key != "score"},
                             "candidates": len(self.candidates)})

    def document(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "identity": self.identity, "step": self.step,
                "stale": self.stale, "population": self.population, "history": self.history,
                "candidates": [candidate.describe() for candidate in self.candidates.values()]}


def load_state(work: Path, identity: dict[str, Any]) -> SearchState:
    """The search in ``work`` (which must be the same search: recordings, Bark, sentences, seed ...), or a new one.
    The state file is read as data: bounded, strictly typed, every id a hex digest whose prompt file matches it."""
    path = Path(work) / STATE_FILE
    if not path.exists():
        if Path(work).exists() and any(item.name != LOCK_FILE for item in Path(work).iterdir()):
            raise UserError(f"--work {work} holds files but no {STATE_FILE}: give a new or empty folder")
        return SearchState(identity)
    try:
        document = read_json_file(path, MAX_STATE_BYTES)
        _require(isinstance(document, dict) and document.get("format") == FORMAT, "not a search state")
        _require(document.get("format_version") == FORMAT_VERSION,
                 f"format version {document.get('format_version')!r}; this bark-clone reads {FORMAT_VERSION}")
        _require(isinstance(document.get("identity"), dict), "no identity")
    except DamagedState as error:
        raise UserError(f"{path} is not a bark-clone search state this version reads ({error}); give another "
                        "--work") from None
    if document["identity"] != identity:
        changed = sorted(key for key in set(identity) | set(document["identity"])
                         if identity.get(key) != document["identity"].get(key))
        raise UserError(f"--work {work} holds a search with other settings ({', '.join(changed)}); give another "
                        "--work, or the same settings to continue it")
    try:
        return _state_from(document, Path(work), identity)
    except DamagedState as error:
        raise UserError(f"{path} is damaged ({error}); give another --work") from None


class DamagedState(ValueError):
    """A search.json (or one of its candidates) that this program did not write as it is."""


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise DamagedState(reason)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _step_ok(step: Any) -> bool:
    """A lineage step: its kind, and for a window its source's label and two finite seconds."""
    if not isinstance(step, dict) or step.get("kind") not in KINDS:
        return False
    window = step.get("window")
    return step["kind"] != "window" or (isinstance(step.get("source"), str) and isinstance(window, list)
                                        and len(window) == 2 and all(map(_finite, window)))


def _state_from(document: dict[str, Any], work: Path, identity: dict[str, Any]) -> SearchState:
    """The state a checked document describes, with every candidate's prompt loaded from ``candidates/``."""
    entries, population, history = document.get("candidates"), document.get("population"), document.get("history")
    _require(_count(document.get("step")) and _count(document.get("stale")), "step and stale must be counts")
    _require(isinstance(entries, list) and isinstance(population, list) and isinstance(history, list),
             "candidates, population and history must be lists")
    _require(all(isinstance(entry, dict) and _count(entry.get("step")) and _finite(entry.get("score"))
                 for entry in history), "a history entry lacks its step or a finite score")
    state = SearchState(identity, step=document["step"], stale=document["stale"], history=history)
    for entry in entries:
        candidate = _candidate_from(entry, work)
        state.candidates[candidate.id] = candidate
    _require(all(isinstance(item, str) and item in state.candidates for item in population),
             "the population names a candidate it does not hold")
    state.population = population
    return state


def _candidate_from(entry: Any, work: Path) -> Candidate:
    """One candidate entry, checked: a hex id whose prompt file holds exactly that prompt, finite scores."""
    _require(isinstance(entry, dict) and isinstance(entry.get("id"), str) and CANDIDATE_ID.fullmatch(entry["id"])
             is not None, "a candidate id is not a 16-digit hex digest")
    identifier = entry["id"]
    _require(entry.get("kind") in KINDS and _count(entry.get("born")), f"candidate {identifier}: bad kind or born")
    _require(isinstance(entry.get("lineage"), list) and entry["lineage"] and all(map(_step_ok, entry["lineage"])),
             f"candidate {identifier}: its lineage must be a list of steps")
    _require(entry.get("rejected") is None or isinstance(entry["rejected"], str),
             f"candidate {identifier}: 'rejected' must be text")
    parts = {key: entry[key] for key in SCORE_PARTS if entry.get(key) is not None}
    if entry.get("score") is not None:
        parts["score"] = entry["score"]
    _require(all(_finite(value) for value in parts.values()), f"candidate {identifier}: a score is not a finite "
             "number")
    try:
        prompt = SpeakerPrompt.load(work / "candidates" / f"{identifier}.npz")
    except UserError as error:
        raise DamagedState(str(error)) from None
    _require(prompt.content_id() == identifier, f"candidates/{identifier}.npz holds another prompt")
    return Candidate(prompt, entry["kind"], entry["lineage"], entry["born"], parts, entry["rejected"])


@contextlib.contextmanager
def locked(work: Path):
    """Hold ``work`` for one search: a second search on the same folder gets one line instead of overwriting the
    first one's state (filelock: an OS lock, released even when the process is killed)."""
    from filelock import FileLock, Timeout

    Path(work).mkdir(exist_ok=True)
    lock = FileLock(str(Path(work) / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(f"--work {work} is in use by another search; wait for it to end, or give another "
                        "--work") from None
    try:
        yield
    finally:
        lock.release()


def save_state(work: Path, state: SearchState) -> None:
    """search.json, search.png and the top prompts, each written atomically."""
    work = Path(work)
    files = {work / STATE_FILE: json_bytes(state.document()), work / "search.png": plot_history(state.history)}
    for rank, candidate in enumerate(state.best(len(state.population)), 1):
        files[work / f"top-{rank}.npz"] = candidate.prompt.npz_bytes()
    write_files_atomically(files, force=True)


def plot_history(history: list[dict[str, Any]]) -> bytes:
    """A PNG: the best score after each step, with its target and self similarity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [entry["step"] for entry in history]
    figure, axis = plt.subplots(figsize=(7, 4))
    for key, style in (("score", "o-"), ("target_similarity", "s--"), ("self_similarity", "^:")):
        axis.plot(steps, [entry.get(key) for entry in history], style, label=key.replace("_", " "))
    axis.set(xlabel="step (0: the starting population)", ylabel="best candidate",
             title="voice search: the best so far (never decreases)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return figure_png(figure)

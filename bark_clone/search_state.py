"""The voice search's state on disk, in ``--work``: ``search.json`` (every candidate with its kind, lineage, score
parts or why it was rejected, and the best score after each step), ``candidates/<id>.npz`` (every prompt),
``top-1.npz`` .. ``top-K.npz`` (the current best) and ``search.png`` (the best score against the step)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .candidates import Candidate
from .errors import UserError
from .files import json_bytes, write_files_atomically
from .prompt import SpeakerPrompt
from .report import figure_png

STATE_FILE = "search.json"
FORMAT = "bark-clone-search"
FORMAT_VERSION = 1


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
    """The search in ``work`` (which must be the same search: recordings, Bark, sentences, seed ...), or a new one."""
    path = Path(work) / STATE_FILE
    if not path.exists():
        if Path(work).exists() and any(Path(work).iterdir()):
            raise UserError(f"--work {work} holds files but no {STATE_FILE}: give a new or empty folder")
        return SearchState(identity)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        known = isinstance(document, dict) and document.get("format") == FORMAT
    except (OSError, ValueError):
        known = False
    if not known:
        raise UserError(f"{path} is not a bark-clone search state (damaged?); give another --work")
    if document["identity"] != identity:
        changed = sorted(key for key in set(identity) | set(document["identity"])
                         if identity.get(key) != document["identity"].get(key))
        raise UserError(f"--work {work} holds a search with other settings ({', '.join(changed)}); give another "
                        "--work, or the same settings to continue it")
    state = SearchState(identity, step=document["step"], stale=document["stale"], population=document["population"],
                        history=document["history"])
    for entry in document["candidates"]:
        prompt = SpeakerPrompt.load(Path(work) / "candidates" / f"{entry['id']}.npz")
        parts = {key: entry[key] for key in ("target_similarity", "self_similarity", "feature_similarity")
                 if entry.get(key) is not None}
        if entry.get("score") is not None:
            parts["score"] = entry["score"]
        state.candidates[entry["id"]] = Candidate(prompt, entry["kind"], entry["lineage"], entry["born"], parts,
                                                  entry["rejected"])
    return state


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

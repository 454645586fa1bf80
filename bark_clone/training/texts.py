"""Texts for synthetic data: a Markov chain over small built-in corpora, or lines from the user's own file.

Nonsense is fine: the quantizer learns sounds, and recombined sentences cover them more evenly than a short list.
"""

from __future__ import annotations

from collections import defaultdict
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import UserError

CHARACTER_LANGUAGES = {"ja", "zh"}  # written without spaces: chain over characters
WORDS_PER_SECOND = {"ja": 7.0, "zh": 4.5}  # characters per second for those; words per second otherwise
DEFAULT_WORDS_PER_SECOND = 2.6
TARGET_SECONDS = (5.0, 15.0)  # speech per sample; Bark's semantic model stops at 768 tokens (15.4 s)


def builtin_languages() -> list[str]:
    """Languages with a built-in corpus (Bark's own list, minus none)."""
    folder = resources.files(__package__) / "texts"
    return sorted(entry.name[:-4] for entry in folder.iterdir() if entry.name.endswith(".txt"))


class MarkovText:
    """An order-2 Markov chain over words (or characters for ja/zh), started at sentence starts."""

    def __init__(self, sentences: list[str], by_characters: bool = False) -> None:
        self.by_characters = by_characters
        self.transitions: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.starts: list[tuple[str, str]] = []
        for sentence in sentences:
            units = self._split(sentence)
            if len(units) < 3:
                continue
            self.starts.append((units[0], units[1]))
            for first, second, third in zip(units, units[1:], units[2:] + ["\n"]):
                self.transitions[(first, second)].append(third)
        if not self.starts:
            raise UserError("the text corpus has no sentence of at least three words")

    def _split(self, sentence: str) -> list[str]:
        return list(sentence.strip()) if self.by_characters else sentence.split()

    def _join(self, units: list[str]) -> str:
        return "".join(units) if self.by_characters else " ".join(units)

    def sentence(self, rng: np.random.Generator, max_units: int = 60) -> list[str]:
        """One generated sentence, as a list of words or characters."""
        first, second = self.starts[rng.integers(len(self.starts))]
        units = [first, second]
        while len(units) < max_units:
            choices = self.transitions.get((units[-2], units[-1]))
            if not choices:
                break
            following = choices[rng.integers(len(choices))]
            if following == "\n":
                break
            units.append(following)
        return units

    def text(self, rng: np.random.Generator, n_units: int) -> str:
        """Sentences joined until about ``n_units`` words (characters) are reached."""
        units: list[str] = []
        while len(units) < n_units:
            units.extend(self.sentence(rng, max_units=n_units - len(units) + 10))
        return self._join(units[: max(n_units, 3)])


class TextSource:
    """Where sample texts come from: ``--texts FILE`` lines in random order, or the built-in Markov chain."""

    def __init__(self, language: str = "en", texts_file: Path | None = None) -> None:
        self.language = language
        if texts_file is not None:
            path = Path(texts_file)
            if not path.is_file():
                raise UserError(f"--texts {path}: no such file")
            self.lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            if not self.lines:
                raise UserError(f"--texts {path} has no non-empty line")
            self.chain = None
            return
        if language not in builtin_languages():
            raise UserError(
                f"no built-in texts for language {language!r} (have {', '.join(builtin_languages())}); "
                "pass --texts FILE with one text per line"
            )
        corpus = (resources.files(__package__) / "texts" / f"{language}.txt").read_text(encoding="utf-8")
        self.lines = []
        self.chain = MarkovText(corpus.splitlines(), by_characters=language in CHARACTER_LANGUAGES)

    def sample(self, rng: np.random.Generator) -> str:
        """One text, aiming at 5-15 s of speech."""
        if self.chain is None:
            return self.lines[rng.integers(len(self.lines))]
        rate = WORDS_PER_SECOND.get(self.language, DEFAULT_WORDS_PER_SECOND)
        seconds = rng.uniform(*TARGET_SECONDS)
        return self.chain.text(rng, max(3, round(seconds * rate)))

"""What each long-running command takes: its options one to one, with their defaults written once.

The CLI reads its defaults from here, and this module imports nothing heavy, so building the CLI stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .constants import (
    DEFAULT_ASR,
    DEFAULT_BARK,
    DEFAULT_BENCH_ASR,
    DEFAULT_CHUNK_SECONDS,
    DEFAULT_DTYPE,
    DEFAULT_HUBERT,
    DEFAULT_MAX_SECONDS,
    DEFAULT_MAX_WER,
    DEFAULT_MIN_SIMILARITY,
    DEFAULT_PAUSE_SECONDS,
    DEFAULT_SIM_MODEL,
    MAX_SEED,
    MAX_VOICE_RANK,
)
from .errors import UserError
from .options import BarkOptions, ModelSources, Sampling

VOICE_DTYPES = ("auto", "float32", "bfloat16")  # train-voice: float16 autocast would need a loss scaler


@dataclass(kw_only=True)
class EvaluateRequest:
    """bark-clone evaluate's options, one to one (the CLI reads its defaults from here)."""

    speakers: list[Path]
    targets: list[Path]
    out: Path
    bark: BarkOptions = field(default_factory=BarkOptions)
    sampling: Sampling = field(default_factory=Sampling)
    sentences: int = 5
    transcript: str | None = None
    quantizers: list[str] = field(default_factory=list)
    language: str = "en"
    hubert: str = DEFAULT_HUBERT
    max_seconds: float = DEFAULT_MAX_SECONDS
    seed: int = 0
    force: bool = False
    batch_size: int = 8  # rows (a voice's sentence each) a Bark generation, every voice in one batch


@dataclass(kw_only=True)
class MakeSpeakerRequest:
    """make-speaker's options, one to one: recordings in, a prompt (or ``candidates`` of them) each out."""

    voices: list[Path]
    output: Path | None = None  # FILE.npz for one speaker, a folder, or None: speakers/<stem>.npz
    models: ModelSources = field(default_factory=ModelSources)
    device: str = "auto"
    max_seconds: float = DEFAULT_MAX_SECONDS
    window: tuple[float, float] | None = None  # exactly these seconds of the recording
    combine: bool = False  # all voices are one speaker
    candidates: int = 1
    refine: int | None = None  # the K best windows, judged by Bark's speech (needs ``bark``)
    bark: BarkOptions | None = None
    normalize: bool = True
    consent: Path | None = None  # the speaker consenting, checked before anything is written
    consent_language: str = "en"
    asr: str | None = None  # checks the consent's words
    consent_without_words: bool = False  # --consent without a recognizer: the metadata says the words went unchecked
    force: bool = False


@dataclass(kw_only=True)
class TrainVoiceRequest:
    """train-voice's options, one to one: recordings (or ``data``) in, a voice folder out."""

    recordings: list[Path]
    output: Path
    bark: str = DEFAULT_BARK  # trained in float32 on ``device``: ``dtype`` is the training's autocast, not Bark's
    data: Path | None = None
    models: ModelSources = field(default_factory=ModelSources)
    device: str = "auto"
    dtype: str = DEFAULT_DTYPE  # float32, or bf16 autocast with bfloat16 (weights stay float32); auto: bfloat16
    # where the device computes it natively
    stages: tuple[str, ...] = ("coarse", "fine")
    rank: int = 16
    steps: int = 400  # optimizer steps per stage at most; held-out NLL stops it sooner
    batch_size: int = 8
    seed: int = 0
    max_seconds: float = DEFAULT_MAX_SECONDS  # the voice's prompt
    resume: bool = False
    force: bool = False

    def check(self) -> None:
        if (self.data is None) == (not self.recordings):
            raise UserError("give the speaker's recordings or --data DIR, not both")
        if not self.stages or set(self.stages) - {"coarse", "fine"}:
            raise UserError("--stages takes coarse, fine or coarse,fine")
        if self.dtype not in VOICE_DTYPES:
            raise UserError(f"train-voice's --dtype is one of {', '.join(VOICE_DTYPES)} (bfloat16: autocast, the "
                            "weights stay float32)")
        if not 1 <= self.rank <= MAX_VOICE_RANK or self.steps < 1 or self.batch_size < 1:
            raise UserError(f"--rank must lie in 1..{MAX_VOICE_RANK}, --steps and --batch-size be at least 1")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"--seed must lie in 0..{MAX_SEED}")


@dataclass(kw_only=True)
class TrainRequest:
    """train-quantizer's options, one to one."""

    data: Path
    out: Path
    arch: str = "context"
    hubert: str = DEFAULT_HUBERT
    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-3
    device: str = "auto"
    resume: bool = False
    force: bool = False
    seed: int = 0
    lstm_version: int = 1
    clusters: int = 2048
    hidden_size: int | None = None
    export_gitmylo: Path | None = None
    alignment: str = "time"


@dataclass(kw_only=True)
class GenerateOptions:
    """The settings that determine a dataset's content (saved in its manifest; a rerun must match them)."""

    samples: int
    bark: str = DEFAULT_BARK
    language: str = "en"
    texts: str | None = None
    batch_size: int = 8
    seed: int = 0
    presets: bool = False
    shard_size: int = 64
    held_out: float = 0.05
    dtype: str = DEFAULT_DTYPE  # Bark's stages; another precision makes other samples, so it is a setting (auto
    # is resolved on the machine before it is recorded)

    def settings(self) -> dict[str, Any]:
        settings = {"kind": "generated", "samples": self.samples, "bark": self.bark, "language": self.language,
                    "texts": str(Path(self.texts).resolve()) if self.texts else "built-in markov",
                    "batch_size": self.batch_size, "seed": self.seed, "presets": self.presets,
                    "shard_size": self.shard_size}
        if self.dtype != "float32":  # float32 datasets made before --dtype existed keep resuming
            settings["dtype"] = self.dtype
        return settings


@dataclass(kw_only=True)
class LongFormSettings:
    """How a long text is spoken: ``speak``'s generation options (the CLI reads their defaults here)."""

    language: str = "en"
    seed: int | None = 0  # None: a random one, chosen when the job starts and written to its report
    sampling: Sampling = field(default_factory=Sampling)
    batch_size: int = 4
    tries: int = 3
    min_similarity: float = DEFAULT_MIN_SIMILARITY
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS
    pause: float = DEFAULT_PAUSE_SECONDS
    chain: bool = False
    check_words: bool | None = None  # the words check: None turns it on when the recognizer is given or cached
    max_wer: float = DEFAULT_MAX_WER

    def check(self) -> None:
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"--seed must lie in 0..{MAX_SEED}")
        if self.batch_size < 1 or self.tries < 1:
            raise UserError("--batch-size and --tries must be at least 1")
        if not 0 < self.chunk_seconds <= 14:
            raise UserError("--chunk-seconds must lie in (0, 14]: Bark speaks at most about 14 s at a time")
        if not 0 <= self.pause <= 5:
            raise UserError("--pause must lie in 0..5 seconds")
        if not -1 <= self.min_similarity <= 1:
            raise UserError("--min-similarity must lie in -1..1")
        if not 0 <= self.max_wer <= 1:
            raise UserError("--max-wer must lie in 0..1 (0: every word must be heard; 1: only silence fails)")


@dataclass(kw_only=True)
class SpeakRequest:
    """bark-clone speak's options, one to one: ``speaker`` with one of ``text`` or ``text_file``, or a ``script``
    with its ``voices``; the generation settings in ``long_form``."""

    speaker: Path | None
    output: Path
    text: str | None = None
    text_file: Path | None = None
    bark: BarkOptions = field(default_factory=BarkOptions)
    max_chars: int = 20_000
    force: bool = False
    long_form: LongFormSettings = field(default_factory=LongFormSettings)
    asr: str = DEFAULT_ASR  # the words check's recognizer: a hub id or a folder
    script: Path | None = None  # NAME: text lines, spoken by the ``voices`` (instead of ``speaker`` and a text)
    voices: dict[str, Path] = field(default_factory=dict)
    split: Path | None = None  # also one audio file per script line in this folder


@dataclass(kw_only=True)
class SearchRequest:
    """bark-clone search's options, one to one."""

    recordings: list[Path]
    output: Path
    work: Path
    bark: BarkOptions = field(default_factory=BarkOptions)
    sampling: Sampling = field(default_factory=Sampling)
    models: ModelSources = field(default_factory=ModelSources)
    steps: int | None = None
    minutes: float | None = None
    keep: int = 4
    patience: int = 3
    sentences: int = 3
    seed: int = 0
    max_seconds: float = DEFAULT_MAX_SECONDS
    language: str = "en"
    force: bool = False
    voice: Path | None = None  # a voice folder: the search runs on Bark wearing its adapters
    batch_size: int | None = None  # rows (a candidate's sentence each) a Bark generation; all of a step by default


@dataclass(kw_only=True)
class BenchmarkRequest:
    """bark-clone benchmark's options, one to one: a test list in, a report folder out (resumable)."""

    list_path: Path
    out: Path
    root: Path | None = None  # where the list's audio lies (default: the list's folder)
    limit: int | None = None
    every: int = 1
    language: str = "en"
    bark: BarkOptions = field(default_factory=BarkOptions)
    sampling: Sampling = field(default_factory=Sampling)
    models: ModelSources = field(default_factory=ModelSources)
    asr: str = DEFAULT_BENCH_ASR  # the WER meter
    sim_model: str = DEFAULT_SIM_MODEL  # the SIM meter
    seed: int = 0
    batch_size: int = 8  # rows a Bark generation, every row its own voice
    max_seconds: float = DEFAULT_MAX_SECONDS
    search_minutes: float | None = None  # also a searched prompt per row, this many minutes each
    voices: bool = False  # also a voice (adapters) per speaker with enough recordings in the list
    voice_min_seconds: float = 60.0  # train-voice's own warning threshold: less teaches an adapter little
    voice_steps: int = 400
    resamples: int = 1000  # the bootstrap's, for the 95 % intervals

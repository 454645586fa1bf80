"""Options shared by several commands, and defaults read from the request dataclasses (each written once)."""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import click

from ..constants import AUTO, DEFAULT_DECODER, DEFAULT_DTYPE, DEFAULT_SEMANTIC_BUDGET, DEFAULT_VOCOS, DTYPES, MAX_SEED
from ..options import DECODER_NAMES, Sampling
from ..requests import VOICE_DTYPES


def default(request_type: type, name: str) -> Any:
    """The default of field ``name`` of the dataclass ``request_type``: the CLI shows what the library uses."""
    field = {field.name: field for field in dataclasses.fields(request_type)}[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise KeyError(f"{request_type.__name__}.{name} has no default")


def defaults(*request_types: type):
    """A command's default reader: field ``name`` of the first of ``request_types`` that has it."""
    def read(name: str) -> Any:
        for request_type in request_types:
            if name in {field.name for field in dataclasses.fields(request_type)}:
                return default(request_type, name)
        raise KeyError(name)

    return read


class FiniteFloat(click.FloatRange):
    """A number within [min, max] that is finite: click's FloatRange alone lets ``nan`` through (every comparison
    with nan is false)."""

    name = "number"

    def _describe_range(self) -> str:
        """Without bounds only finiteness is asked for (click would print "x<=None")."""
        if self.min is None and self.max is None:
            return "finite"
        return super()._describe_range()

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


SEED = click.IntRange(0, MAX_SEED)


def device_option(function):
    return click.option(
        "--device", default="auto", show_default=True, help="auto (cuda, then mps, then cpu), cpu, cuda or mps."
    )(function)


def dtype_option(function):
    return click.option("--dtype", type=click.Choice([AUTO, *DTYPES]), default=DEFAULT_DTYPE, show_default=True,
                        help="Precision of Bark's three stages: auto picks the fastest here (bfloat16 on a CPU with "
                        "AVX-512 BF16 or AMX and on GPUs that have it, else float16 on GPUs and float32 on CPUs); "
                        "bfloat16 halves their memory, float16 needs a GPU. EnCodec, HuBERT and the quantizer stay "
                        "float32.")(function)


def voice_dtype_option(function):
    return click.option("--dtype", type=click.Choice(list(VOICE_DTYPES)), default=DEFAULT_DTYPE, show_default=True,
                        help="Training precision: bfloat16 trains under bf16 autocast (the weights stay float32); "
                        "auto uses it where the device computes bfloat16 natively, else float32.")(function)


def offload_option(function):
    return click.option("--offload", is_flag=True, help="Keep only the running Bark stage on the GPU (for 6-8 GB "
                        "cards; needs --device cuda and the accelerate package).")(function)


def decoder_options(function):
    """--decoder and --vocos: what turns Bark's codes into audio."""
    function = click.option("--vocos", default=DEFAULT_VOCOS, show_default=True,
                            help="--decoder vocos: its weights, a hub id or a folder.")(function)
    return click.option("--decoder", type=click.Choice(list(DECODER_NAMES)), default=DEFAULT_DECODER,
                        show_default=True, help="What turns Bark's codes into audio: encodec (EnCodec's own decoder, "
                        "as Bark ships) or vocos (Vocos trained on EnCodec's tokens).")(function)


# The sampling flags, by ``Sampling`` field: a new sampling option is its field (options.py), its use
# (bark/sampling.py) and one line here; every command that samples gets it whole as ``sampling``.
SAMPLING_FLAGS = {
    "top_p": click.option("--top-p", type=FiniteFloat(0, 1, min_open=True), default=None,
                          help="Nucleus sampling in Bark's semantic and coarse stages: keep the likeliest tokens whose "
                          "probabilities add up to this (default: off; top-k 50 alone, as transformers' Bark)."),
    "semantic_budget": click.option("--semantic-budget", type=FiniteFloat(1, 100), default=None,
                                    help=f"Cut a generation that runs past this many times the speech its text needs "
                                    f"(default {DEFAULT_SEMANTIC_BUDGET}; Bark's 768-token cap still holds)."),
}


def sampling_options(function):
    """The sampling flags, handed to the command as one ``sampling`` (a ``Sampling``; unset flags keep its
    defaults)."""
    @functools.wraps(function)
    def command(*args, **kwargs):
        given = {name: kwargs.pop(name) for name in SAMPLING_FLAGS}
        return function(*args, sampling=Sampling(**{name: value for name, value in given.items()
                                                    if value is not None}), **kwargs)

    for option in reversed(SAMPLING_FLAGS.values()):
        command = option(command)
    return command


def force_option(function):
    return click.option("--force", is_flag=True, help="Overwrite existing output files.")(function)


def words_options(asr_default: str, max_wer_default: float, what: str = "chunk"):
    """--check-words/--no-check-words, --asr and --max-wer: the words check, for speak and for serve."""
    options = [
        click.option("--check-words/--no-check-words", default=None, help=f"Transcribe every {what} and retry it "
                     "when it is off script (default: on when --asr is given or the default recognizer is cached)."),
        click.option("--asr", default=asr_default, show_default=True, help="The words check's recognizer: Whisper "
                     "or a CTC model (wav2vec2), a hub id or a folder."),
        click.option("--max-wer", type=FiniteFloat(0, 1), default=max_wer_default, show_default=True,
                     help="Retry a chunk whose word error rate (characters for ja/zh/ko) is above this."),
    ]

    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate

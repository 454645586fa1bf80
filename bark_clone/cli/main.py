"""The ``bark-clone`` command: thin click wrappers over the library, with user errors caught in one place."""

from __future__ import annotations

import importlib
import warnings

import click

from ..constants import VERSION
from ..errors import Advice, UserError

# Each command lives in the module of its kind and is imported only when it runs (or when help lists it), so
# ``bark-clone inspect`` never pays for torch, the server or the trainer.
COMMANDS = {
    "make-speaker": ("speaker", "make_speaker_command"),
    "inspect": ("speaker", "inspect"),
    "decode": ("speaker", "decode"),
    "speak": ("speak", "speak"),
    "evaluate": ("evaluate", "evaluate"),
    "search": ("search", "search"),
    "serve": ("serve", "serve"),
    "generate-data": ("training", "generate_data_command"),
    "import-data": ("training", "import_data_command"),
    "train-quantizer": ("training", "train_quantizer_command"),
    "evaluate-quantizer": ("training", "evaluate_quantizer_command"),
    "train-voice": ("voice", "train_voice_command"),
    "benchmark": ("benchmark", "benchmark_command"),
}


SHOW_WARNING = warnings.showwarning  # Python's own, for every warning that is not our Advice


def show_advice(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` that prints our ``Advice`` as one line on stderr, and other warnings as before."""
    if issubclass(category, Advice):
        click.echo(f"warning: {message}", err=True)
    else:
        SHOW_WARNING(message, category, filename, lineno, file, line)


class BarkCloneGroup(click.Group):
    """Loads commands from ``COMMANDS`` on first use, and prints a ``UserError`` (or any unexpected error) as one
    line with exit status 1; ``--debug`` shows tracebacks."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module, attribute = COMMANDS[name]
            self.add_command(getattr(importlib.import_module(f"{__package__}.{module}"), attribute), name)
        return self.commands.get(name)

    def invoke(self, ctx: click.Context):
        debug = bool(ctx.params.get("debug"))
        if not debug:
            warnings.filterwarnings("ignore")
        warnings.filterwarnings("always", category=Advice)
        warnings.showwarning = show_advice
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted; nothing half-written was left behind", err=True)
            ctx.exit(130)
        except UserError as error:
            if debug:
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(1)
        except OSError as error:  # the file system's refusals a user can cause: said plainly, in one line
            if debug:
                raise
            click.echo(f"error: {plain_os_error(error)}", err=True)
            ctx.exit(1)
        except Exception as error:  # the last line of defence: still one line, never a traceback
            if debug:
                raise
            message = " ".join(str(error).split())[:300]
            click.echo(f"error: unexpected {type(error).__name__}: {message} (run with --debug for details)", err=True)
            ctx.exit(1)


def plain_os_error(error: OSError) -> str:
    """An OSError as one line in a user's terms: the file (its name shortened) and what the system said."""
    import errno
    import os

    name = os.fsdecode(error.filename) if error.filename is not None else ""
    shown = name if len(name) <= 80 else f"{name[:40]}...{name[-20:]}"
    if error.errno == errno.ENAMETOOLONG:
        return f"the file name {shown!r} is longer than this file system allows (255 bytes a name)"
    return f"{shown + ': ' if shown else ''}{error.strerror or type(error).__name__}"


@click.group(cls=BarkCloneGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks and library warnings.")
@click.version_option(VERSION, prog_name="bark-clone")
def cli(debug: bool) -> None:
    """Clone a voice for Bark: turn a recording into a speaker prompt (.npz) whose semantic tokens and codec
    codes all come from the same audio."""


def main() -> None:
    """Console entry point."""
    cli(prog_name="bark-clone")

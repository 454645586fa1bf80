"""The test lists the field shares, read as data: Seed-TTS-eval's ``meta.lst`` (``utt|prompt_text|prompt_wav|
target_text``, optionally ``|target_wav``; paths relative to the list's folder) and F5-TTS's LibriSpeech-PC
cross-sentence list (``ref_utt<TAB>ref_dur<TAB>ref_text<TAB>gen_utt<TAB>gen_dur<TAB>gen_text``; audio under
``--root``, LibriSpeech's ``speaker/chapter/utt.flac``). A bad row is one line naming it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..files import read_regular_file

MAX_LIST_BYTES = 64 * 1024 * 1024  # test-en is about 200 KB; LibriSpeech-PC's list about 300 KB
MAX_TEXT_CHARACTERS = 2_000  # a target Bark says in one generation is a sentence or two
UTTERANCE = re.compile(r"^\w[\w.-]{0,199}$")  # file-name safe (never '.' or '..'): its files are stored under it
LIBRISPEECH_UTTERANCE = re.compile(r"^(\d+)-(\d+)-\d+$")


@dataclass(frozen=True)
class Row:
    """One test item: speak ``target_text`` in the voice of ``prompt_wav`` (whose words are ``prompt_text``);
    ``target_wav`` is the real target recording, where the list has one; ``speaker`` groups rows by voice."""

    utt: str
    prompt_text: str
    prompt_wav: Path
    target_text: str
    target_wav: Path | None
    speaker: str
    line: str = ""  # "meta.lst line 12": where a failure is named


def _text(value: str, what: str, where: str) -> str:
    text = value.strip()
    if not text or len(text) > MAX_TEXT_CHARACTERS or "\0" in text:
        raise UserError(f"{where}: its {what} is empty, longer than {MAX_TEXT_CHARACTERS} characters or not text")
    return text


def _utterance(value: str, where: str) -> str:
    if not UTTERANCE.match(value):
        raise UserError(f"{where}: {value[:60]!r} is not an utterance name (a letter or digit, then letters, digits, "
                        "'.', '-', '_')")
    return value


def seed_tts_row(fields: list[str], folder: Path, where: str) -> Row:
    if len(fields) not in (4, 5):
        raise UserError(f"{where}: {len(fields)} fields; Seed-TTS-eval's meta.lst has utt|prompt_text|prompt_wav|"
                        "target_text (and optionally |target_wav)")
    utt = _utterance(fields[0].strip(), where)
    target = folder / fields[4].strip() if len(fields) == 5 else folder / "wavs" / f"{utt}.wav"
    return Row(utt, _text(fields[1], "prompt text", where), folder / fields[2].strip(),
               _text(fields[3], "target text", where), target, utt, where)


def librispeech_row(fields: list[str], root: Path, where: str) -> Row:
    if len(fields) != 6:
        raise UserError(f"{where}: {len(fields)} fields; LibriSpeech-PC's list has ref_utt, ref_dur, ref_text, "
                        "gen_utt, gen_dur, gen_text separated by tabs")
    paths = []
    for value in (fields[0].strip(), fields[3].strip()):
        match = LIBRISPEECH_UTTERANCE.match(value)
        if match is None:
            raise UserError(f"{where}: {value[:60]!r} is not a LibriSpeech utterance (speaker-chapter-number)")
        paths.append(root / match.group(1) / match.group(2) / f"{value}.flac")
    return Row(fields[3].strip(), _text(fields[2], "prompt text", where), paths[0],
               _text(fields[5], "target text", where), paths[1], fields[0].split("-")[0], where)


def read_list(path: Path, root: Path | None = None, limit: int | None = None, every: int = 1) -> list[Row]:
    """The list's rows (every ``every``-th, at most ``limit``); the format told by its separators. Paths are
    relative to the list's folder, or to ``root`` (LibriSpeech's test-clean folder for its list)."""
    data = read_regular_file(path, MAX_LIST_BYTES)
    if data is None:
        raise UserError(f"{path}: not a regular file of at most {MAX_LIST_BYTES // 2**20} MB")
    try:
        # \n and \r\n only, as an editor numbers lines (str.splitlines also breaks at \f, \v, \x1c, U+2028, ...)
        lines = [line.removesuffix("\r") for line in data.decode("utf-8-sig").split("\n")]
    except UnicodeDecodeError as error:
        raise UserError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    folder = root if root is not None else Path(path).parent
    rows, seen = [], set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{Path(path).name} line {number}"
        row = (librispeech_row(line.split("\t"), folder, where) if "\t" in line
               else seed_tts_row(line.split("|"), folder, where))
        if row.utt in seen:
            raise UserError(f"{where}: utterance {row.utt!r} is listed twice")
        seen.add(row.utt)
        rows.append(row)
    if not rows:
        raise UserError(f"{path} lists no rows")
    if every < 1 or (limit is not None and limit < 1):
        raise UserError("--every and --limit must be at least 1")
    return rows[::every][:limit]

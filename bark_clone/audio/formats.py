"""The formats speech is delivered in: one registry for files (``speak -o x.mp3``), the server's ``format=`` and
OpenAI's ``response_format``. Every encoder is libsndfile's, through soundfile (WAV, FLAC, MP3, Ogg Opus, Ogg
Vorbis), plus raw 16-bit PCM; streamable formats also encode piece by piece as the speech is made."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class Format:
    """One delivery format: libsndfile's container and codec (None for raw PCM), its MIME type, its file suffixes,
    and whether it can be sent piece by piece (its header never needs rewriting once the speech is known)."""

    container: str | None
    subtype: str
    media_type: str
    suffixes: tuple[str, ...]
    streamable: bool


FORMATS = {
    "wav": Format("WAV", "PCM_16", "audio/wav", (".wav",), True),  # streamed with an open-ended header
    "flac": Format("FLAC", "PCM_16", "audio/flac", (".flac",), False),  # its header is rewritten at the end
    "mp3": Format("MP3", "MPEG_LAYER_III", "audio/mpeg", (".mp3",), False),  # its Xing header likewise
    "opus": Format("OGG", "OPUS", "audio/ogg", (".opus",), True),
    "ogg": Format("OGG", "VORBIS", "audio/ogg", (".ogg",), True),
    "pcm": Format(None, "PCM_16", "audio/pcm", (".pcm", ".raw"), True),  # 16-bit signed little-endian mono
}
REFUSED = {"aac": "AAC has no encoder in libsndfile, which writes every format here; ask for mp3 or opus"}


def format_named(name: str) -> Format:
    """The format called ``name`` (wav, flac, mp3, opus, ogg, pcm); ``UserError`` naming the choices otherwise."""
    key = name.lower().lstrip(".")
    if key in REFUSED:
        raise UserError(f"format {key}: {REFUSED[key]}")
    if key not in FORMATS:
        raise UserError(f"format {name!r}: choose one of {', '.join(FORMATS)}")
    return FORMATS[key]


def format_for_suffix(suffix: str) -> Format:
    """The format a file name ending in ``suffix`` asks for."""
    for fmt in FORMATS.values():
        if suffix.lower() in fmt.suffixes:
            return fmt
    if suffix.lower().lstrip(".") in REFUSED:
        return format_named(suffix)
    raise UserError(f"the output must end in {', '.join(s for f in FORMATS.values() for s in f.suffixes)}; got "
                    f"{suffix or 'no suffix'}")


def encode(samples: np.ndarray, sample_rate: int, fmt: Format) -> bytes:
    """(n,) float audio, clipped to [-1, 1], encoded whole in ``fmt``."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, format=fmt.container or "RAW",
                    subtype=fmt.subtype, **({"endian": "LITTLE"} if fmt.container is None else {}))
    return buffer.getvalue()


OPEN_ENDED = 0xFFFFFFFF  # a WAV size field that says "unknown": the stream ends when the connection does


def wav_stream_header(sample_rate: int) -> bytes:
    """The 44-byte header of a 16-bit mono PCM WAV whose length is not known yet (streamed as it is made).
    Written by hand: soundfile writes the sizes when a file is closed, which a stream never is."""
    return (b"RIFF" + struct.pack("<I", OPEN_ENDED) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16) +
            b"data" + struct.pack("<I", OPEN_ENDED))


def pcm16_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """(n,) float audio as the raw 16-bit PCM that ``wav_bytes`` would hold for it (the same conversion)."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, format="RAW", subtype="PCM_16")
    return buffer.getvalue()


class StreamEncoder:
    """Encodes speech piece by piece for a streamed reply: ``feed(samples)`` returns the bytes ready to send,
    ``close()`` the rest. WAV gets an open-ended header (its sizes are unknown while it streams); Ogg pages and raw
    PCM come out as they are encoded."""

    def __init__(self, fmt: Format, sample_rate: int) -> None:
        import soundfile

        if not fmt.streamable:
            raise UserError(f"{fmt.suffixes[0][1:]} cannot be streamed (its header is written at the end)")
        self.fmt, self.sample_rate, self.sent = fmt, sample_rate, 0
        self.buffer = io.BytesIO()
        self.file = None if fmt.container in (None, "WAV") else soundfile.SoundFile(
            self.buffer, "w", sample_rate, 1, fmt.subtype, format=fmt.container)
        self.started = False

    def feed(self, samples: np.ndarray) -> bytes:
        if self.file is None:  # WAV and PCM: 16-bit samples as they come, WAV behind its open-ended header
            header = wav_stream_header(self.sample_rate) if self.fmt.container == "WAV" and not self.started else b""
            self.started = True
            return header + pcm16_bytes(samples, self.sample_rate)
        self.file.write(np.clip(samples, -1.0, 1.0))
        return self._new_bytes()

    def close(self) -> bytes:
        if self.file is None:
            return b""
        self.file.close()
        return self._new_bytes()

    def _new_bytes(self) -> bytes:
        data = self.buffer.getbuffer()[self.sent:].tobytes()
        self.sent += len(data)
        return data

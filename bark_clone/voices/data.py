"""A voice adapter's training data: the dominant speaker's usable speech, cut into pieces at pauses, each piece with
the preceding audio of its recording as history, all three streams made exactly as make-speaker makes them; or a
dataset's clips with their own tokens. Held-out pieces come from the end of the recordings, never random frames."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..bark.layouts import FINE_HISTORY, CoarseWindow, FineWindow, coarse_windows, fine_windows
from ..constants import CODEC_FRAME_RATE_HZ, MIN_SPEECH_SECONDS, semantic_length_for_frames
from ..errors import UserError
from ..prompting.format import SpeakerPrompt

PIECE_SECONDS = 10.0  # at most this long: Bark speaks at most about 14 s at a time
HISTORY_SECONDS = FINE_HISTORY / CODEC_FRAME_RATE_HZ + 0.2  # every stage's history (the fine model's 512 frames)
PAUSE_PAD = 0.1  # seconds kept around a piece's speech
HELD_OUT_FRACTION = 0.1  # at least this share of the speech (and at least one piece) is held out
MIN_TRAINING_SECONDS = 60.0  # under this, a warning: an adapter learns little from less


@dataclass(frozen=True)
class Piece:
    """One stretch of speech: ``streams`` covers its history and itself; the piece starts at ``split_token`` /
    ``split_frame`` (0 without history)."""

    label: str
    seconds: float
    streams: SpeakerPrompt
    split_token: int = 0
    split_frame: int = 0

    def alone(self) -> SpeakerPrompt:
        """The piece's own streams, without its history."""
        streams = self.streams
        return SpeakerPrompt.from_streams(streams.semantic_tokens[self.split_token:],
                                          streams.fine_codes[:, self.split_frame:])

    def coarse(self) -> list[CoarseWindow]:
        return coarse_windows(self.streams.semantic_tokens, self.streams.coarse_codes, self.split_token,
                              self.split_frame)

    def fine(self) -> list[FineWindow]:
        return fine_windows(self.streams.fine_codes, self.split_frame)


def after_prompt(prompt: SpeakerPrompt, piece: Piece) -> Piece:
    """The piece said after ``prompt`` (in-context cloning): Bark reads the prompt as history, then the piece.
    The coarse truth starts a frame before the prompt's end (Bark regenerates it), so the prompt lends one frame
    less of coarse codes; the fine model keeps all of the prompt."""
    alone, frames = piece.alone(), prompt.fine_codes.shape[1]
    semantic = np.concatenate([prompt.semantic_tokens, alone.semantic_tokens])
    fine = np.concatenate([prompt.fine_codes, alone.fine_codes], axis=1)
    return Piece(f"{piece.label} after the prompt", piece.seconds, SpeakerPrompt(
        semantic, np.concatenate([prompt.coarse_codes[:, :frames - 1], alone.coarse_codes], axis=1), fine),
        len(prompt.semantic_tokens), frames)


def piece_spans(segments, duration: float) -> list[tuple[float, float]]:
    """Speech segments grouped into pieces of at most ``PIECE_SECONDS``, cut in pauses (a longer segment is cut
    where it must be)."""
    spans: list[list[float]] = []
    for segment in segments:
        start, end = max(0.0, segment.start - PAUSE_PAD), min(duration, segment.end + PAUSE_PAD)
        if spans and end - spans[-1][0] <= PIECE_SECONDS and start <= spans[-1][1] + 1.0:
            spans[-1][1] = end
            continue
        while end - start > PIECE_SECONDS:
            spans.append([start, start + PIECE_SECONDS])
            start += PIECE_SECONDS
        spans.append([start, end])
    return [(start, end) for start, end in spans if end - start >= MIN_SPEECH_SECONDS]


def unusable(profile, source: int, start: float, end: float, centroid, floor) -> str | None:
    """make-speaker's verdict on a stretch: why it cannot be used (too little speech, music or a tone, a second
    voice, clipping), or None."""
    from ..audio.speech import speech_seconds
    from ..prompting.selection import score_window

    candidate = score_window(profile, source, start, end, speech_seconds(profile.segments, start, end), centroid,
                             floor)
    if candidate.rejected is not None:
        return "too little speech" if candidate.rejected.startswith("only") else candidate.rejected
    return "clipped" if candidate.scores["clipping"] >= 0.01 else None


def recording_pieces(recordings, models, left_out: dict[str, float] | None = None) -> list[Piece]:
    """Every usable piece of every recording (one speaker), in time order, with the preceding audio as history;
    the seconds left out are added to ``left_out`` by reason."""
    from ..prompting.pipeline import cut_window, prompt_from_window
    from ..prompting.selection import profile_recording, speaker_reference

    profiles = [profile_recording(r.samples_16k, r.audio.clipped, r.speech_probabilities, r.segments, models.voice)
                for r in recordings]
    centroid, floor = speaker_reference(profiles)
    pieces, left_out = [], {} if left_out is None else left_out
    for source, (recording, profile) in enumerate(zip(recordings, profiles)):
        for start, end in piece_spans(recording.segments, recording.audio.duration):
            reason = unusable(profile, source, start, end, centroid, floor)
            if reason is not None:
                left_out[reason] = left_out.get(reason, 0.0) + end - start
                continue
            first = max(0.0, start - HISTORY_SECONDS)
            split_frame = int((start - first) * CODEC_FRAME_RATE_HZ + 1e-6)
            first = start - split_frame / CODEC_FRAME_RATE_HZ
            streams = prompt_from_window(cut_window(recording, first, end), models)
            pieces.append(Piece(f"{Path(recording.label).name} {start:.2f}-{end:.2f} s", end - start, streams,
                                semantic_length_for_frames(split_frame), split_frame))
    return pieces


def dataset_pieces(rows: list[tuple[str, np.ndarray, np.ndarray]]) -> list[Piece]:
    """Dataset clips (id, semantic tokens, (8, T) codes) as pieces without history, their tokens as they are."""
    pieces = []
    for identifier, semantic, codes in rows:
        streams = SpeakerPrompt.from_streams(np.asarray(semantic), np.asarray(codes))
        pieces.append(Piece(identifier, codes.shape[1] / CODEC_FRAME_RATE_HZ, streams))
    return pieces


def held_out_split(pieces: list[Piece], left_out: dict[str, float] | None = None) -> tuple[list[Piece], list[Piece]]:
    """(training, held out): the last pieces in time, at least ``HELD_OUT_FRACTION`` of the seconds and at least
    one; at least one piece stays for training. ``left_out`` (seconds by reason) says why there are too few."""
    if len(pieces) < 2:
        why = ", ".join(f"{seconds:.1f} s {reason}" for reason, seconds in sorted(left_out.items())) if left_out \
            else ""
        raise UserError(f"{len(pieces)} usable piece(s) of speech: a voice needs at least two (one is held out to "
                        "measure it); " + (f"left out: {why}; record again without that" if why else
                                           "give longer recordings"))
    total, held = sum(piece.seconds for piece in pieces), 0.0
    count = 0
    while count < len(pieces) - 1 and (count == 0 or held < HELD_OUT_FRACTION * total):
        count += 1
        held += pieces[-count].seconds
    return pieces[:-count], pieces[-count:]


def bootstrap_prompt(pieces: list[Piece], max_seconds: float) -> SpeakerPrompt:
    """A prompt from a training clip's own tokens (with --data), cut like a bootstrap: the longest clip's tail."""
    from types import SimpleNamespace

    from ..bark.bootstrap import prompt_from_generation

    longest = max(pieces, key=lambda piece: piece.seconds).alone()
    clip = SimpleNamespace(semantic_tokens=longest.semantic_tokens, fine_codes=longest.fine_codes)
    return prompt_from_generation(clip, max_seconds)


def speech_seconds_of(pieces: list[Piece]) -> float:
    return float(math.fsum(piece.seconds for piece in pieces))

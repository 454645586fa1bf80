"""The /speak routes: one speaker's text or a script of several speakers' lines, answered whole (from the cache when
the same request came before) or streamed chunk by chunk as each passes the guard."""

from __future__ import annotations

import asyncio
import threading

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from ..audio.formats import FORMATS, Format, StreamEncoder, encode, format_named
from ..bark.core import require_text
from ..constants import CODEC_SAMPLE_RATE, MAX_SEED
from ..errors import ApiError, UserError
from ..files import json_text
from ..speaking.script import check_line_text
from .cache import WavCache
from .jobs import SpeakPlan, speak_job
from .service import QueueFull, Service, get_service

SPEAK_SETTINGS_VERSION = "long-form-2"  # part of the cache key: cached audio from older settings is not reused
MAX_SCRIPT_LINES = 1000
AUDIO = {200: {"content": {media: {} for media in sorted({fmt.media_type for fmt in FORMATS.values()})}}}
FORMAT_HELP = f"The audio format: {', '.join(FORMATS)} (pcm: 24 kHz 16-bit mono little-endian)"

router = APIRouter()


class ScriptLineBody(BaseModel):
    """One line of a script: who says it (a speaker on this server) and what."""

    speaker: str = Field(..., min_length=1, max_length=64)
    text: str
    paragraph: bool = Field(False, description="A longer pause before this line, as a blank line in a script file.")


class SpeakBody(BaseModel):
    """POST /speak: a speaker's text (``name``, ``text``) or a ``script`` of several speakers' lines, any length up
    to the server's limit; ``stream`` sends the audio chunk by chunk as it is made."""

    name: str | None = None
    text: str | None = None
    script: list[ScriptLineBody] | None = Field(None, min_length=1, max_length=MAX_SCRIPT_LINES)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    stream: bool = False
    format: str = Field("wav", description=FORMAT_HELP)


@router.get("/speak/{name}", summary="Bark speaks the text with this speaker", response_class=Response,
            responses=AUDIO)
async def speak(name: str, text: str = Query(..., min_length=1), seed: int = Query(0, ge=0, le=MAX_SEED),
                stream: bool = Query(False, description="Send each chunk as soon as it is ready (an open-ended WAV)"),
                format: str = Query("wav", description=FORMAT_HELP), service: Service = Depends(get_service)
                ) -> Response:
    return await answer_speak(service, text_plan(service, name, text, seed), stream, requested_format(format))


@router.post("/speak", summary="Bark speaks a long text or a script (JSON body)", response_class=Response,
             responses=AUDIO)
async def speak_posted(body: SpeakBody, service: Service = Depends(get_service)) -> Response:
    if body.script is not None:
        if body.name is not None or body.text is not None:
            raise ApiError(400, "give either name and text, or a script, not both")
        return await answer_speak(service, script_plan(service, body.script, body.seed), body.stream,
                                  requested_format(body.format))
    if body.name is None or body.text is None:
        raise ApiError(422, "invalid request: give name and text (or a script)")
    return await answer_speak(service, text_plan(service, body.name, body.text, body.seed), body.stream,
                              requested_format(body.format))


def requested_format(name: str) -> Format:
    try:
        return format_named(name)
    except UserError as error:
        raise ApiError(400, str(error)) from None


def words_identity(service: Service) -> str:
    """The words check's settings, which choose among tries: part of the cache key."""
    config = service.config
    return f"{config.asr} {config.max_wer}" if config.words_enabled else ""


def generation_identity(config) -> str:
    """What a server's audio depends on beyond a request: its Bark, decoder and sampling (read from the option
    objects of its ``ServiceConfig``, so a new option is in every key)."""
    return json_text({"bark": config.bark.source, **config.bark.audio_identity(), **config.sampling.identity()},
                     indent=None)


def speak_cache_key(prompt_bytes: bytes, text: str, seed: int, bark: str, words: str = "") -> str:
    """The whole request (the speaker's content, the text, the seed, ``generation_identity``, the long-form
    settings)."""
    return WavCache.key("speak", prompt_bytes, text, str(seed), bark, SPEAK_SETTINGS_VERSION, words)


def speaker_content(service: Service, name: str) -> bytes:
    """What a speaker's audio depends on: its prompt and, for a voice folder, its adapters; a stock voice of the
    server's Bark (``v2/en_speaker_6``), its preset (404 if it is none of these)."""
    preset = service.stock_prompt(name)
    if preset is not None:
        return b"stock " + name.encode() + preset.npz_bytes()
    npz, _ = service.speakers.existing(name)
    consent = service.speakers.consent_id(name)
    if consent is not None and not service.consents.exists(consent):  # retired with its consent
        raise ApiError(404, f"no speaker named {name!r}: the consent it was made with was deleted")
    voice = service.speakers.read_voice(name)
    return npz.read_bytes() + (voice.adapter_id if voice is not None else "").encode()


def check_length(characters: int, limit: int, where: str = "the text") -> None:
    if characters > limit:
        raise ApiError(413, f"{where} has {characters} characters; this server speaks at most {limit} at once")


def checked_text(text: str, limit: int, where: str = "the text") -> None:
    check_length(len(text), limit, where)
    try:
        require_text(text)
    except UserError as error:
        raise ApiError(400, str(error)) from None


def text_plan(service: Service, name: str, text: str, seed: int) -> SpeakPlan:
    """One speaker's text, checked here, once, before anything else touches it."""
    checked_text(text, service.config.max_text_characters)
    key = speak_cache_key(speaker_content(service, name), text, seed, generation_identity(service.config),
                          words_identity(service))
    return SpeakPlan(seed, key, name=name, text=text)


def script_plan(service: Service, script: list[ScriptLineBody], seed: int) -> SpeakPlan:
    """A script: every speaker known (404 naming the line), every line saying something, at most the server's
    characters in all (413)."""
    check_length(sum(len(line.text) for line in script), service.config.max_text_characters, "the script")
    contents: dict[str, bytes] = {}
    for number, line in enumerate(script, 1):
        if line.speaker not in contents:
            try:
                contents[line.speaker] = speaker_content(service, line.speaker)
            except ApiError as error:
                raise ApiError(error.status, f"script line {number}: {error.message}") from None
        try:
            check_line_text(number, line.speaker, line.text)
        except UserError as error:
            raise ApiError(400, str(error)) from None
    lines = tuple((line.speaker, line.text.strip(), line.paragraph) for line in script)
    material = "\n".join(f"{speaker}\t{int(paragraph)}\t{text}" for speaker, text, paragraph in lines)
    key = speak_cache_key(b"".join(contents[name] + name.encode() for name in sorted(contents)), material, seed,
                          generation_identity(service.config), "script " + words_identity(service))
    return SpeakPlan(seed, key, lines=lines)


def whole(data: bytes, meta: dict, hit: bool, fmt: Format = FORMATS["wav"]) -> Response:
    headers = {"X-Cache": "hit" if hit else "miss", "X-Chunks": str(meta.get("chunks", "")),
               "X-Min-Similarity": str(meta.get("min_similarity", "")),
               "X-Chunk-Similarities": ",".join(str(value) for value in meta.get("similarities", [])),
               "X-Chunk-Wers": ",".join("" if value is None else str(value) for value in meta.get("wers", []))}
    return Response(data, media_type=fmt.media_type, headers=headers)


async def answer_speak(service: Service, plan: SpeakPlan, stream: bool = False, fmt: Format = FORMATS["wav"],
                       finish=None, variant: str = "") -> Response:
    """Bark speaking the plan in ``fmt``: from the cache when the same request came before (whole, even when a
    stream was asked for), else made now, whole or (a streamable format) streamed. ``finish(samples)`` changes the
    audio before it is encoded (OpenAI's speed); ``variant`` names that change in the cache key."""
    key = plan.key if fmt is FORMATS["wav"] and finish is None else WavCache.key(plan.key, fmt.subtype,
                                                                                 fmt.media_type, variant)
    entry = service.cache.get_entry(key)
    if entry is not None:
        return whole(*entry, hit=True, fmt=fmt)
    if stream and fmt.streamable and finish is None:
        return await streamed(service, plan, fmt)
    made = service.cache.get_entry(plan.key) if key != plan.key else None  # the WAV of an earlier request
    data, meta = made or await service.run(lambda: speak_job(service, plan), plan.key)
    if key != plan.key:  # the WAV is cached as made; this format of it beside it
        data = await asyncio.to_thread(reencoded, service, key, data, meta, fmt, finish)  # no queue slot of its own
    return whole(data, meta, hit=False, fmt=fmt)


def reencoded(service: Service, key: str, wav: bytes, meta: dict, fmt: Format, finish=None) -> bytes:
    """The job's WAV in another format (and changed by ``finish``), cached under ``key``."""
    import io

    import soundfile

    samples, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    data = encode(finish(samples) if finish is not None else samples, rate, fmt)
    service.cache.put(key, data, meta)
    return data


class StreamBroken(Exception):
    """Raised inside a streamed body: the server closes the connection without the final chunk."""


async def streamed(service: Service, plan: SpeakPlan, fmt: Format = FORMATS["wav"]) -> Response:
    """An open-ended WAV sent as the job makes it: each chunk as soon as it and every chunk before it passed the
    guard. A job that fails before its first chunk answers with its error; one that fails later (or whose speaker is
    deleted) ends the response without its last chunk, so the client sees a broken transfer, never a shorter WAV
    that looks whole; a client that goes away stops the job before its next generation (nothing is cached then)."""
    loop = asyncio.get_running_loop()
    encoder = StreamEncoder(fmt, CODEC_SAMPLE_RATE)
    pieces: asyncio.Queue = asyncio.Queue()
    stop = threading.Event()

    def on_piece(index: int, total: int, piece) -> None:
        loop.call_soon_threadsafe(pieces.put_nowait, encoder.feed(piece))

    names = {plan.name} if plan.name is not None else {speaker for speaker, _, _ in plan.lines}
    service.watch_streams(names, stop)
    try:
        future = service.jobs.submit(lambda: speak_job(service, plan, on_piece, stop))
    except QueueFull:
        service.watch_streams(names, stop, watching=False)
        raise ApiError(429, "the server is busy; retry shortly",
                       {"Retry-After": str(service.config.retry_after_seconds)}) from None
    future.add_done_callback(lambda _: loop.call_soon_threadsafe(pieces.put_nowait, None))
    first = await pieces.get()
    if first is None:  # it ended before its first chunk: its error is the answer
        service.watch_streams(names, stop, watching=False)
        await service.result(future)
        raise ApiError(500, "internal error: the job ended without audio")

    async def body():
        try:
            yield first
            while (piece := await pieces.get()) is not None:
                yield piece
            if future.exception() is not None:  # the open-ended WAV cannot say so: the transfer is cut instead
                raise StreamBroken(f"the job failed after its first chunk: {type(future.exception()).__name__}")
            yield encoder.close()
        finally:
            stop.set()  # the client went away (or everything was sent): no more generations
            service.watch_streams(names, stop, watching=False)

    return StreamingResponse(body(), media_type=fmt.media_type, headers={"X-Cache": "miss", "X-Stream": "chunks"})

"""What the server's worker threads run: making a speaker, its preview, speech, and a voice search. Each reads
the models from the service's hub and writes through its speakers folder."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ApiError, UserError
from .service import Service


@contextlib.contextmanager
def client_errors(upload: Path, client_name: str, limit: float):
    """A recording's problems in the client's terms: 413 past the duration limit, else 400 naming the client's file
    (never the server's temporary path)."""
    from ..audio.sound import RecordingTooLong

    try:
        yield
    except RecordingTooLong as error:
        lasts = f"{error.seconds:.0f} s" if error.exact else f"over {limit:.0f} s"
        raise ApiError(413, f"the recording lasts {lasts}; this server takes at most {limit:.0f} s") from None
    except UserError as error:
        raise ApiError(400, str(error).replace(str(upload), client_name)) from None


def make_speaker_job(service: Service, name: str, upload: Path, client_name: str, max_seconds: float,
                     normalize: bool) -> dict:
    """Worker side of POST /speakers: decode (400 if not audio), check the duration, make and write the prompt."""
    from ..prompting.pipeline import analyse, make_speakers

    models = service.hub.speaker_models()
    with client_errors(upload, client_name, service.config.max_audio_seconds):
        recording = analyse(upload, models.vad, label=client_name, max_seconds=service.config.max_audio_seconds)
    speaker = make_speakers([recording], models, max_seconds, normalize)[0]
    service.speakers.write(name, speaker)
    return speaker.sidecar


def preview_job(service: Service, name: str, key: str) -> bytes:
    from ..audio.sound import wav_bytes
    from ..constants import CODEC_SAMPLE_RATE

    prompt = service.speakers.read_prompt(name)
    (audio,) = service.hub.decoder().decode([prompt.fine_codes])
    data = wav_bytes(audio, CODEC_SAMPLE_RATE)
    service.cache.put(key, data)
    return data


@dataclass(frozen=True)
class SpeakPlan:
    """What /speak was asked, checked: one speaker's text (``name``, ``text``) or a script's lines (speaker, text,
    whether a longer pause comes before it), the seed, and the cache key of the answer."""

    seed: int
    key: str
    name: str | None = None
    text: str | None = None
    lines: tuple[tuple[str, str, bool], ...] = ()


def speak_job(service: Service, plan: SpeakPlan, on_piece=None, stop=None) -> tuple[bytes, dict]:
    """Worker side of /speak: the long-form path with its guard, the same as ``bark-clone speak`` (a script: every
    line in its speaker's voice). ``on_piece`` hears each chunk as it is ready; ``stop`` ends the job early (then
    nothing is cached). The whole answer goes into the cache."""
    from ..audio.sound import wav_bytes
    from ..speaking.longform import LongFormSettings, speak_long

    session = service.hub.session()
    settings = LongFormSettings(seed=plan.seed, sampling=service.config.sampling)
    with session.generator.job(stop):  # every generation goes to the one batch of all clients' rows
        if plan.lines:
            audio, report = script_job(service, session, plan, settings, on_piece, stop)
        else:
            prompt, voice = service.speaker(plan.name)  # its rows wear exactly this speaker's adapters
            audio, report = speak_long(session, prompt, plan.text, settings, voice=voice, on_piece=on_piece,
                                       stop=stop, hurry_first=on_piece is not None, progress=False,
                                       sidecar=service.speaker_sidecar(plan.name), warn=lambda line: None)
    meta = {"chunks": len(report["chunks"]), "min_similarity": report["min_similarity"],
            "similarities": [row["similarity"] for row in report["chunks"]],
            "wers": [row["wer"] for row in report["chunks"]]}
    data = wav_bytes(audio, report["sample_rate"])
    service.cache.put(plan.key, data, meta)
    return data, meta


def script_job(service: Service, session, plan: SpeakPlan, settings, on_piece, stop):
    """A script through the batcher: each speaker judged against its sidecar's reference (as ``speak`` judges it)
    or its prompt's decode, each row wearing its speaker's adapters (or none)."""
    from ..speaking.script import PARAGRAPH_PAUSE_FACTOR, ScriptLine, speak_script

    speakers = {name: session.speaker(name, *service.speaker(name), sidecar=service.speaker_sidecar(name),
                                      warn=lambda line: None)
                for name in dict.fromkeys(speaker for speaker, _, _ in plan.lines)}
    lines = [ScriptLine(number, speaker, text, settings.pause * (PARAGRAPH_PAUSE_FACTOR if paragraph else 1))
             for number, (speaker, text, paragraph) in enumerate(plan.lines, 1)]
    audio, report, _ = speak_script(session, lines, speakers, settings, on_piece=on_piece, stop=stop,
                                    hurry_first=on_piece is not None, progress=False)
    return audio, report


def without_adapters(service: Service, bark):
    """The search's generator, each generation holding the shared Bark with no voice's adapters on."""
    from ..speaking import longform

    generate = longform.bark_generator(bark, sampling=service.config.sampling)

    def generator(texts, prompt, seed):
        with service.hub.voices().wearing(None):
            return generate(texts, prompt, seed)

    return generator


def search_job(service: Service, name: str, recording_path: Path, client_name: str, minutes: float,
               status: dict, stop) -> None:
    """Worker side of POST /speakers with search_minutes: search for a better prompt than the first, reporting the
    best score so far in ``status``, then replace the speaker with the result. Setting ``stop`` (the speaker was
    deleted) ends it before its next candidate; its private folder goes in every case."""
    from ..prompting.pipeline import analyse
    from ..search.command import best_sidecar, search_recordings
    from ..search.steps import SearchSettings, SearchStopped

    try:
        if stop.is_set():
            return
        models, bark = service.hub.speaker_models(), service.hub.bark()
        recording = analyse(recording_path, models.vad, label=client_name,
                            max_seconds=service.config.max_audio_seconds)
        settings = SearchSettings(minutes=minutes, max_seconds=service.config.max_prompt_seconds)

        def report(state) -> None:
            if state.population:
                best = state.best(1)[0]
                status.update(step=state.step, candidates=len(state.candidates), best_score=round(best.score, 4),
                              target_similarity=round(best.scores["target_similarity"], 4))

        identity = {"recordings": [recording.sha256], "bark": service.config.bark.source, **settings.fixed(),
                    **service.config.sampling.identity()}
        state = search_recordings([recording], models, bark, settings, recording_path.parent / "work", identity,
                                  generator=without_adapters(service, bark), progress=False, on_step=report,
                                  stop=stop)
        best = state.best(1)[0]
        sidecar = best_sidecar(best, state, [recording], models, {
            "minutes": minutes, "bark": service.config.bark.source, "sentences": settings.sentences,
            "seed": settings.seed})
        service.speakers.replace(name, best.prompt, sidecar)
        status.update(status="ready")
    except SearchStopped:
        status.update(status="cancelled")
    except (UserError, ApiError) as error:
        message = error.message if isinstance(error, ApiError) else str(error)
        status.update(status="ready", error=f"the search stopped: {service.public_message(message)}")
    except Exception as error:  # nobody awaits this job: without this the speaker would say "searching" forever
        status.update(status="ready", error=f"the search stopped: internal error ({type(error).__name__})")
        raise
    finally:
        shutil.rmtree(recording_path.parent, ignore_errors=True)
        for empty in (recording_path.parent.parent, recording_path.parent.parent.parent):  # PROCESS/, .search/
            with contextlib.suppress(OSError):
                empty.rmdir()
        service.search_ended(name, stop)

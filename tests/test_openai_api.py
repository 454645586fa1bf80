"""OpenAI's audio API on our server, driven by OpenAI's own Python client (``openai``): consents and custom voices
from bundled recordings, speech in every format, streaming, and each error as the client's own exception."""

from __future__ import annotations

import io
import threading
import time

import httpx
import numpy as np
import openai
import pytest
import soundfile
from recordings import espeak
from support import serving

from bark_clone.bark import generation
from bark_clone.options import BarkOptions, ModelSources
from bark_clone.server import speaking
from bark_clone.server.app import create_app
from bark_clone.server.service import ServiceConfig

TOKEN = "sekret-key"
SAMPLE_TEXT = "The museum opens at nine, but the best exhibits are upstairs. Could you pass me the salt, please?"
LONG_TEXT = " ".join(f"The keeper number {n} climbed the stairs and lit the lamp." for n in range(5))


@pytest.fixture()
def server(tiny, tmp_path, hub):
    config = ServiceConfig(speakers=tmp_path / "speakers", bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                           models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                               quantizer=str(tiny["quantizer"])),
                           token=TOKEN, workers=1, queue_size=1, max_text_characters=400,
                           consent_without_words=True)  # the consent's words are heard in test_consents
    with serving(create_app(config, hub)) as base:
        yield base, config


def client_for(base: str, key: str = TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=300)


def recordings(tmp_path, arctic_audio):
    """One voice's sample and its consent (two different utterances: a consent cut from the sample is refused),
    and another voice's consent."""
    from bark_clone.speaking.consent import statement_for

    soundfile.write(tmp_path / "sample.wav", espeak(SAMPLE_TEXT, "en-us+m3"), 16000)
    soundfile.write(tmp_path / "consent.wav", espeak(statement_for("en"), "en-us+m3"), 16000)
    soundfile.write(tmp_path / "stranger.wav", espeak(statement_for("en"), "en-us+f3"), 16000)
    return tmp_path / "sample.wav", tmp_path / "consent.wav", tmp_path / "stranger.wav"


def consented_voice(server, tmp_path, arctic_audio) -> tuple[str, openai.OpenAI, str]:
    """(base URL, a client, the id of a custom voice made from the bundled recordings with their consent)."""
    base, _ = server
    sample, consent_wav, _ = recordings(tmp_path, arctic_audio)
    client = client_for(base)
    consent = client.audio.voice_consents.create(recording=consent_wav.open("rb"), name="me", language="en")
    return base, client, client.audio.voices.create(audio_sample=sample.open("rb"), consent=consent.id, name="v").id


def decoded(data: bytes, response_format: str) -> tuple[np.ndarray, int, int]:
    """(samples, rate, channels) of an answer; pcm is 24 kHz 16-bit mono little-endian, as OpenAI sends it."""
    if response_format == "pcm":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768, 24_000, 1
    info = soundfile.info(io.BytesIO(data))
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return samples, rate, info.channels


def test_consent_voice_and_speech_in_every_format(server, tmp_path, arctic_audio):
    base, config = server
    client = client_for(base)
    sample, consent_wav, stranger = recordings(tmp_path, arctic_audio)
    consent = client.audio.voice_consents.create(recording=consent_wav.open("rb"), name="me", language="en-US")
    assert consent.id.startswith("cons_") and consent.object == "audio.voice_consent" and consent.language == "en-US"
    assert client.audio.voice_consents.retrieve(consent.id).name == "me"
    assert client.audio.voice_consents.update(consent.id, name="me, again").name == "me, again"
    assert [item.id for item in client.audio.voice_consents.list()] == [consent.id]
    voice = client.audio.voices.create(audio_sample=sample.open("rb"), consent=consent.id, name="My voice")
    assert voice.id.startswith("voice_") and voice.object == "audio.voice" and voice.name == "My voice"
    checked = (config.speakers / f"{voice.id}.json").read_text()
    assert '"speaker_similarity"' in checked and consent.id in checked  # what was checked is kept

    lengths = {}
    for response_format in ("wav", "mp3", "opus", "flac", "pcm"):
        answer = client.audio.speech.create(model="tts-1", voice={"id": voice.id}, input="Hello there.",
                                            response_format=response_format)
        samples, rate, channels = decoded(answer.read(), response_format)
        assert rate == 24_000 and channels == 1 and np.isfinite(samples).all(), response_format
        lengths[response_format] = len(samples) / rate
    assert all(abs(seconds - lengths["wav"]) < 0.15 for seconds in lengths.values()), lengths  # one speech, 5 ways
    faster = client.audio.speech.create(model="tts-1", voice=voice.id, input="Hello there.", response_format="wav",
                                        speed=2.0, instructions="Speak cheerfully.")
    assert abs(len(decoded(faster.read(), "wav")[0]) / 24_000 - lengths["wav"] / 2) < 0.1 * lengths["wav"]
    with pytest.raises(openai.BadRequestError, match="AAC"):
        client.audio.speech.create(model="tts-1", voice=voice.id, input="Hi.", response_format="aac")
    assert "tts-1" in [model.id for model in client.models.list()]

    with pytest.raises(openai.BadRequestError, match="speaker is not the sample's"):
        other = client.audio.voice_consents.create(recording=stranger.open("rb"), name="x", language="en")
        client.audio.voices.create(audio_sample=sample.open("rb"), consent=other.id, name="Not mine")
    assert client.audio.voices.delete(voice.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-1", voice={"id": voice.id}, input="Hi.")
    assert client.audio.voice_consents.delete(consent.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.audio.voice_consents.retrieve(consent.id)


def test_each_error_is_the_clients_own_exception(server, tmp_path, arctic_audio, monkeypatch):
    base, client, voice = consented_voice(server, tmp_path, arctic_audio)
    with pytest.raises(openai.AuthenticationError):
        client_for(base, "wrong").audio.speech.create(model="tts-1", voice=voice, input="Hi.")
    for bad, error in (({"voice": "nobody"}, openai.NotFoundError), ({"input": ""}, openai.BadRequestError),
                       ({"input": "word " * 100}, openai.BadRequestError),
                       ({"voice": {"id": "../../etc"}}, openai.BadRequestError)):
        with pytest.raises(error) as raised:
            client.audio.speech.create(**{"model": "tts-1", "voice": voice, "input": "Hi.", **bad})
        assert raised.value.body["type"] and raised.value.body["message"], raised.value.body  # OpenAI's shape

    release, started = threading.Event(), threading.Event()
    original = speaking.speak_job

    def held(*args, **options):
        started.set()
        release.wait(60)
        return original(*args, **options)

    monkeypatch.setattr(speaking, "speak_job", held)
    answers: dict[str, object] = {}

    def ask(text: str) -> None:
        try:
            answers[text] = client.audio.speech.create(model="tts-1", voice=voice, input=text).read()
        except openai.APIError as error:
            answers[text] = error

    first = threading.Thread(target=ask, args=("One.",))
    first.start()
    assert started.wait(60)
    queued = threading.Thread(target=ask, args=("Two.",))
    queued.start()
    time.sleep(0.5)
    try:
        with pytest.raises(openai.RateLimitError) as raised:
            client.audio.speech.create(model="tts-1", voice=voice, input="Three.")
        assert raised.value.response.headers["retry-after"]
    finally:
        release.set()
        first.join(120)
        queued.join(120)
    assert all(isinstance(answers[text], bytes) for text in ("One.", "Two.")), answers  # both answered in full


@pytest.mark.slow
def test_streaming_to_a_file_starts_before_the_last_chunk_is_made(server, tmp_path, arctic_audio, monkeypatch):
    base, client, voice = consented_voice(server, tmp_path, arctic_audio)
    generations, original = [], generation.generate

    def counted(*args, **options):
        generations.append(time.perf_counter())
        return original(*args, **options)

    monkeypatch.setattr(generation, "generate", counted)
    for response_format in ("wav", "opus", "pcm"):
        generations.clear()
        with client.audio.speech.with_streaming_response.create(model="tts-1", voice=voice, input=LONG_TEXT,
                                                                response_format=response_format) as response:
            parts = response.iter_bytes()
            first = next(parts)
            at_first = len(generations)
            data = first + b"".join(parts)
        assert at_first < len(generations), (response_format, at_first, len(generations))  # audio came early
        samples, rate, _ = decoded(data, response_format)
        assert rate == 24_000 and len(samples) > rate, response_format
        (tmp_path / f"story.{response_format}").write_bytes(data)


def test_make_speaker_checks_a_consent_on_the_command_line(run_cli, model_args, tmp_path, arctic_audio):
    import json

    sample, consent_wav, stranger = recordings(tmp_path, arctic_audio)
    refused = run_cli("make-speaker", sample, "-o", "me.npz", "--consent", stranger, "--consent-without-words",
                      *model_args)
    assert refused.exit_code == 1 and "speaker is not the sample's" in refused.output, refused.output
    assert not (tmp_path / "me.npz").exists()
    made = run_cli("make-speaker", sample, "-o", "me.npz", "--consent", consent_wav, "--consent-without-words",
                   *model_args)
    assert made.exit_code == 0, made.output
    kept = json.loads((tmp_path / "me.json").read_text())["consent"]
    assert kept["speaker_similarity"] >= kept["min_similarity"] and kept["recording"] == "consent.wav"
    assert kept["words"].startswith("not checked")  # no recognizer given: said, not hidden


def test_the_consent_statement_is_heard_when_a_recognizer_is_loaded(tmp_path, arctic_audio):
    from bark_clone.audio.speaker_encoder import load_voice_encoder
    from bark_clone.speaking.consent import ConsentRefused, check_consent, statement_for

    sample, consent_wav, _ = recordings(tmp_path, arctic_audio)
    encoder = load_voice_encoder("cpu")

    class Hears:
        def __init__(self, words: str) -> None:
            self.words = words

        def transcribe(self, audio, language="en", text=""):
            return self.words

    checked = check_consent(consent_wav, sample, encoder, "en-US", Hears(statement_for("en-US")))
    assert checked["words"] == "checked" and checked["wer"] == 0.0
    with pytest.raises(ConsentRefused, match="does not say the consent statement"):
        check_consent(consent_wav, sample, encoder, "en-US", Hears("I do not agree to anything at all."))
    with pytest.raises(ConsentRefused, match="no consent statement is written for xx"):
        check_consent(consent_wav, sample, encoder, "xx", Hears(""))
    with pytest.raises(ConsentRefused, match="--consent-without-words"):
        check_consent(consent_wav, sample, encoder, "en", None)


def test_a_stock_voice_of_the_servers_bark_is_a_voice_too(server):
    base, _ = server
    client = client_for(base)
    answer = client.audio.speech.create(model="tts-1", voice="v2/en_speaker_0", input="Hello there.",
                                        response_format="wav")
    samples, rate, _ = decoded(answer.read(), "wav")
    assert rate == 24_000 and len(samples) > 0
    other = client.audio.speech.create(model="tts-1", voice="v2/en_speaker_1", input="Hello there.",
                                       response_format="wav").read()
    assert other != answer.read()  # another stock voice, another prompt
    posted = httpx.post(f"{base}/speak", json={"name": "v2/en_speaker_1", "text": "Hello there."},
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
    assert posted.status_code == 200  # the same request through our own API, the same samples (/v1 streamed it)
    assert np.array_equal(decoded(posted.content, "wav")[0], decoded(other, "wav")[0])
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-1", voice="v2/xx_speaker_9", input="Hi.")

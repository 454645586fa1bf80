"""Consent that means something, through OpenAI's own client: the consent statement heard in the consent recording
itself (a stand-in recognizer that knows which recording says it), a consent cut from the sample refused whatever
the recognizer says, a server without a recognizer refusing custom voices unless told, consent recordings checked
when they arrive, a deleted consent retiring its voices, strict creation order for paging, and OpenAI's delete
touching only the voices it made."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import openai
import pytest
import soundfile
from recognizers import ConsentListener
from recordings import espeak
from support import serving

from bark_clone.options import BarkOptions, ModelSources
from bark_clone.server.app import create_app
from bark_clone.server.service import ModelHub, ServiceConfig
from bark_clone.speaking.consent import WITHOUT_WORDS, statement_for

RATE = 16_000
PERSON, STRANGER = "en-us+m3", "en-us+f3"
SAMPLE_TEXT = ("The museum opens at nine, but the best exhibits are upstairs. My brother repairs old radios in a "
               "workshop behind his house.")


@pytest.fixture(scope="module")
def voices() -> dict[str, np.ndarray]:
    """One person's sample and consent (two utterances), their other words, a stranger's consent (16 kHz)."""
    statement = statement_for("en")
    return {"sample": espeak(SAMPLE_TEXT, PERSON), "consent": espeak(statement, PERSON),
            "other_words": espeak("I would rather nobody copied my voice at all, thank you very much.", PERSON),
            "stranger": espeak(statement, STRANGER)}


def wav(samples: np.ndarray, fmt: str = "WAV") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format=fmt)
    return buffer.getvalue()


def config_for(tiny, folder, **extra) -> ServiceConfig:
    return ServiceConfig(speakers=folder, bark=BarkOptions(source=str(tiny["bark"]), device="cpu"),
                         models=ModelSources(hubert=str(tiny["hubert"]), encodec=str(tiny["encodec"]),
                                             quantizer=str(tiny["quantizer"])), workers=1, queue_size=4, **extra)


@pytest.fixture()
def listening(tiny, tmp_path, voices):
    """A server whose recognizer is the listener: (client, listener, config)."""
    listener = ConsentListener([voices["consent"]])
    config = config_for(tiny, tmp_path / "speakers")
    with serving(create_app(config, ModelHub(config, recognizer=listener))) as base:
        yield openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=300), listener, config


def consent(client, samples: np.ndarray, name: str = "me", fmt: str = "WAV"):
    return client.audio.voice_consents.create(recording=(f"consent.{fmt.lower()}", wav(samples, fmt)), name=name,
                                              language="en-US")


def voice(client, samples: np.ndarray, consent_id: str, name: str = "mine"):
    return client.audio.voices.create(audio_sample=("sample.wav", wav(samples)), consent=consent_id, name=name)


def test_the_statement_is_heard_in_the_consent_recording_itself(listening, voices):
    client, listener, config = listening
    made = voice(client, voices["sample"], consent(client, voices["consent"]).id)
    assert listener.heard == [("consent 0", statement_for("en"))]  # it was handed the consent, nothing else
    kept = json.loads((config.speakers / f"{made.id}.json").read_text())["consent"]
    assert kept["words"] == "checked" and kept["wer"] == 0.0
    # two utterances of one voice: the same speaker, clearly not the same audio
    assert kept["min_similarity"] <= kept["speaker_similarity"] < 0.99
    assert kept["shared_audio"] < 0.5 < kept["max_shared_audio"]
    with pytest.raises(openai.BadRequestError, match="does not say the consent statement"):
        voice(client, voices["sample"], consent(client, voices["other_words"]).id, "other")
    with pytest.raises(openai.BadRequestError, match="speaker is not the sample's"):
        voice(client, voices["sample"], consent(client, voices["stranger"]).id, "stranger")
    assert [line for line, _ in listener.heard] == ["consent 0", "other consent"]


def test_a_consent_cut_from_the_sample_is_refused_whatever_is_heard(listening, voices):
    client, listener, config = listening
    cut = voices["sample"][int(0.7 * RATE): int(5.5 * RATE)] * 0.5  # trimmed, quieter, then through MP3
    listener.saying_it.append(soundfile.read(io.BytesIO(wav(cut, "MP3")), dtype="float32")[0])
    with pytest.raises(openai.BadRequestError, match="sample's own audio"):
        voice(client, voices["sample"], consent(client, cut, fmt="MP3").id)
    assert not list(config.speakers.glob("voice_*"))  # nothing was made


def test_a_server_without_a_recognizer_makes_no_voice_unless_told(tiny, tmp_path, voices):
    for without_words in (False, True):
        config = config_for(tiny, tmp_path / f"speakers-{without_words}", consent_without_words=without_words)
        with serving(create_app(config, ModelHub(config))) as base:
            client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=300)
            given = consent(client, voices["consent"])
            if not without_words:
                with pytest.raises(openai.BadRequestError, match="--consent-without-words"):
                    voice(client, voices["sample"], given.id)
                continue
            made = voice(client, voices["sample"], given.id)
            kept = json.loads((config.speakers / f"{made.id}.json").read_text())["consent"]
            assert kept["words"] == WITHOUT_WORDS
            with pytest.raises(openai.BadRequestError, match="sample's own audio"):  # still checked without words
                voice(client, voices["sample"], consent(client, voices["sample"][RATE: 5 * RATE]).id, "again")


def test_consent_recordings_are_checked_when_they_arrive(listening):
    client, _, config = listening
    for data, name, expected in ((wav(np.zeros(3 * RATE, np.float32)), "quiet.wav", "digital silence"),
                                 (wav(np.full(RATE // 2, 0.1, np.float32)), "short.wav", "lasts 0.5 s"),
                                 (b"RIFF" + b"\0" * 400, "broken.wav", "broken.wav"),
                                 (wav(np.random.default_rng(0).normal(0, 0.1, 70 * RATE).astype(np.float32)),
                                  "long.wav", "at most 60 s")):
        with pytest.raises(openai.APIStatusError) as raised:
            client.audio.voice_consents.create(recording=(name, data), name="me", language="en")
        message = raised.value.body["message"]
        assert raised.value.status_code in (400, 413) and expected in message, message
        assert str(config.speakers) not in message and "/tmp" not in message
    assert list(client.audio.voice_consents.list()) == []  # nothing kept


def test_deleting_a_consent_retires_the_voices_made_with_it(listening, voices):
    client, listener, config = listening
    kept_consent = consent(client, voices["consent"], "kept")
    gone_consent = consent(client, voices["consent"], "withdrawn")
    kept, gone = (voice(client, voices["sample"], given.id, given.name) for given in (kept_consent, gone_consent))
    for made in (kept, gone):
        assert client.audio.speech.create(model="tts-1", voice=made.id, input="Hello.", response_format="wav").read()
    client.audio.voice_consents.delete(gone_consent.id)
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-1", voice=gone.id, input="Hello.", response_format="wav")
    assert not (config.speakers / f"{gone.id}.npz").exists()
    assert client.audio.speech.create(model="tts-1", voice=kept.id, input="Hello.", response_format="wav").read()


def test_consents_list_in_creation_order_and_page_without_gaps(listening, voices):
    client, _, _ = listening
    made = [consent(client, voices["consent"][: 2 * RATE], f"consent {number}").id for number in range(5)]
    assert [item.id for item in client.audio.voice_consents.list()] == made  # created within the same second
    paged, after = [], None
    while True:
        page = client.audio.voice_consents.list(limit=2, **({"after": after} if after else {}))
        paged += [item.id for item in page.data]
        if not page.has_more:
            break
        after = page.data[-1].id
    assert paged == made


def test_openai_delete_removes_only_the_voices_it_made(listening, voices, tmp_path):
    client, _, config = listening
    base = str(client.base_url).removesuffix("/v1/")
    plain = httpx.post(f"{base}/speakers", data={"name": "plain"}, timeout=300,
                       files={"audio": ("plain.wav", wav(voices["sample"]), "audio/wav")})
    assert plain.status_code == 201, plain.text
    before = sorted(path.name for path in config.speakers.iterdir())
    for name in ("plain", "nobody"):
        with pytest.raises(openai.NotFoundError):
            client.audio.voices.delete(name)
    assert sorted(path.name for path in config.speakers.iterdir()) == before  # nothing touched
    made = voice(client, voices["sample"], consent(client, voices["consent"]).id)
    assert client.audio.voices.delete(made.id).deleted
    assert not (config.speakers / f"{made.id}.npz").exists() and (config.speakers / "plain.npz").exists()


def test_make_speaker_hears_the_consent_or_is_told_not_to(run_cli, model_args, tmp_path, voices):
    for name in ("sample", "consent"):
        soundfile.write(tmp_path / f"{name}.wav", voices[name], RATE)
    unheard = run_cli("make-speaker", "sample.wav", "-o", "me.npz", "--consent", "consent.wav", *model_args)
    assert unheard.exit_code == 1 and "--asr" in unheard.output and "--consent-without-words" in unheard.output
    assert not (tmp_path / "me.npz").exists()
    same = run_cli("make-speaker", "sample.wav", "-o", "me.npz", "--consent", "sample.wav",
                   "--consent-without-words", *model_args)
    assert same.exit_code == 1 and "sample's own audio" in same.output, same.output
    made = run_cli("make-speaker", "sample.wav", "-o", "me.npz", "--consent", "consent.wav",
                   "--consent-without-words", *model_args)
    assert made.exit_code == 0, made.output
    assert json.loads((tmp_path / "me.json").read_text())["consent"]["words"] == WITHOUT_WORDS

"""Bark's numeric contract: every rate, vocabulary and codebook size the project relies on, in one place."""

import math

VERSION = "0.1.0"  # the package's version, read from here by pyproject.toml (setuptools' attr), the CLI and sidecars

# Stage 1: text -> semantic tokens.
SEMANTIC_RATE_HZ = 49.9  # Bark semantic tokens per second (not 50: see README)
SEMANTIC_VOCAB_SIZE = 10_000  # token ids 0..9999

# Stages 2 and 3: EnCodec 24 kHz codes.
CODEC_SAMPLE_RATE = 24_000  # Hz
CODEC_HOP_LENGTH = 320  # samples per code frame
CODEC_FRAME_RATE_HZ = CODEC_SAMPLE_RATE / CODEC_HOP_LENGTH  # 75 Hz
CODEBOOK_SIZE = 1024  # codes 0..1023 per codebook
N_COARSE_CODEBOOKS = 2
N_FINE_CODEBOOKS = 8
CODEC_BANDWIDTH_KBPS = 6.0  # the bandwidth at which EnCodec emits 8 codebooks
assert CODEC_FRAME_RATE_HZ == 75
assert N_FINE_CODEBOOKS * math.log2(CODEBOOK_SIZE) * CODEC_FRAME_RATE_HZ == CODEC_BANDWIDTH_KBPS * 1000

# HuBERT: the audio side of the quantizer.
HUBERT_SAMPLE_RATE = 16_000  # Hz
HUBERT_HOP_LENGTH = 320  # samples per feature frame
HUBERT_FRAME_RATE_HZ = HUBERT_SAMPLE_RATE / HUBERT_HOP_LENGTH  # 50 Hz
HUBERT_LAYER = 9  # fairseq's output_layer=9 == transformers' hidden_states[9]
assert HUBERT_FRAME_RATE_HZ == 50

# What Bark reads of a history prompt (suno's generation.py and transformers' BarkModel agree).
BARK_SEMANTIC_HISTORY = 256  # text model: last 256 semantic tokens
BARK_MAX_COARSE_HISTORY = 630  # coarse model: last 630 flattened coarse codes (2 per frame)
BARK_FINE_HISTORY_FRAMES = 512  # fine model: last 512 frames of all 8 codebooks
SEMANTIC_TO_COARSE_RATIO = CODEC_FRAME_RATE_HZ / SEMANTIC_RATE_HZ * N_COARSE_CODEBOOKS  # flattened codes per token
BARK_COARSE_RATIO = round(SEMANTIC_TO_COARSE_RATIO / N_COARSE_CODEBOOKS, 1)  # Bark asserts this == 1.5
assert BARK_COARSE_RATIO == 1.5

# Default models.
DEFAULT_HUBERT = "facebook/hubert-base-ls960"
DEFAULT_ENCODEC = "facebook/encodec_24khz"
DEFAULT_BARK = "suno/bark"
DEFAULT_QUANTIZER = "en"
DEFAULT_ASR = "openai/whisper-base"  # the words check's recognizer: covers Bark's 13 languages
DEFAULT_VOCOS = "charactr/vocos-encodec-24khz"  # --decoder vocos: Vocos trained on EnCodec's 24 kHz tokens
DEFAULT_BENCH_ASR = "openai/whisper-large-v3"  # the benchmark's WER: Seed-TTS-eval's English recognizer
DEFAULT_SIM_MODEL = "microsoft/wavlm-base-plus-sv"  # the benchmark's SIM: WavLM with an x-vector head
DEFAULT_DECODER = "encodec"  # fine codes -> audio (decoders.DECODERS): EnCodec's own decoder, as Bark ships

DTYPES = ("float32", "float16", "bfloat16")  # what Bark's stages can be cast to (models.devices picks among them)
AUTO = "auto"  # the fastest of them on the device at hand
DEFAULT_DTYPE = AUTO  # Bark's stages: the fastest precision that fits the device (devices.resolve_dtype)

# Prompt policy.
MIN_SPEECH_SECONDS = 1.0  # below this, the semantic/coarse ratio is unstable and the voice unrecognisable
DEFAULT_MAX_SECONDS = 14.0  # the published quantizers were trained on clips of about this length


# Long-form speech (speak): the defaults, measured or reasoned where they are used.
DEFAULT_CHUNK_SECONDS = 12.0  # under Bark's ~14 s per generation, with room for a slower speaker
DEFAULT_PAUSE_SECONDS = 0.3  # between chunks
DEFAULT_MIN_SIMILARITY = 0.75  # the guard's threshold (speaking/consistency.py and scripts/guard_threshold.py say why)
DEFAULT_MAX_WER = 0.25  # the words check's threshold (scripts/wer_threshold.py and the README say why)
MAX_SEED = 2**31 - 1  # every seed lies in 0..MAX_SEED: numpy, torch and the server's API all take it
MAX_VOICE_RANK = 256  # train-voice's --rank at most, and what a voice folder's adapter config may declare
MAX_SIDECAR_BYTES = 1024 * 1024  # a sidecar is a few KB: a larger one (or no regular file) is read as none
MAX_REFERENCE_SECONDS = 60.0  # the guard's reference window at most (the server's longest prompt window)
# Each row's semantic budget follows its text: speech at SPEECH_CHARACTERS_PER_SECOND (measured on the guard's
# voices by scripts/semantic_budget.py) times the multiple, at least the floor, at most the checkpoint's cap.
SPEECH_CHARACTERS_PER_SECOND = 14.0
DEFAULT_SEMANTIC_BUDGET = 2.5  # how many times the speech a text needs a row may run before it is cut
MIN_BUDGET_SECONDS = 3.0  # a short text still gets this much room


def semantic_length_for_frames(n_frames: int) -> int:
    """Number of semantic tokens that cover ``n_frames`` codec frames (75 Hz) of the same audio (49.9 Hz)."""
    return round(n_frames * SEMANTIC_RATE_HZ / CODEC_FRAME_RATE_HZ)

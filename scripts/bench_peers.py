"""The peers of the Bark engine in scripts/bench.py, on the same random weights: transformers' ``BarkModel`` loops
(bark-clone's path before the engine, ``tests/reference_bark.py``) and suno's own ``bark`` 0.1.5 generation
functions (``use_kv_caching=True``), its GPT classes loaded with the transformers weights renamed back. Each run
returns seconds per stage (semantic, coarse, fine, decode)."""

from __future__ import annotations

import contextlib
import sys
import time
import types

SUNO_NAMES = (  # transformers' names -> suno's (the reverse of transformers' convert_suno_to_hf.py)
    ("input_embeds_layers.", "transformer.wtes."), ("input_embeds_layer.", "transformer.wte."),
    ("position_embeds_layer.", "transformer.wpe."), ("layernorm_final.", "transformer.ln_f."),
    ("layers.", "transformer.h."), ("layernorm_1.", "ln_1."), ("layernorm_2.", "ln_2."), ("att_proj.", "c_attn."),
    ("attn.out_proj.", "attn.c_proj."), ("mlp.in_proj.", "mlp.c_fc."), ("mlp.out_proj.", "mlp.c_proj."),
)


def suno_generation():
    """suno's ``bark.generation`` (its EnCodec import stubbed: the codec used is transformers', same weights)."""
    if "bark.generation" not in sys.modules:
        stub = types.ModuleType("encodec")
        stub.EncodecModel = object
        sys.modules.setdefault("encodec", stub)
        import bark.generation  # noqa: F401
    return sys.modules["bark.generation"]


def suno_state(model) -> dict:
    state = {}
    for name, tensor in model.state_dict().items():
        if name.endswith(".attn.bias"):  # transformers' causal-mask buffer; suno builds its own
            continue
        for old, new in SUNO_NAMES:
            name = name.replace(old, new)
        state[name] = tensor
    return state


def suno_models(bark, dtype) -> dict:
    """suno's GPT / FineGPT for each stage, with the weights of ``bark``'s stages."""
    from bark.model import GPT, GPTConfig
    from bark.model_fine import FineGPT, FineGPTConfig

    def config(sub, kind):
        fields = dict(block_size=sub.block_size, input_vocab_size=sub.input_vocab_size,
                      output_vocab_size=sub.output_vocab_size, n_layer=sub.num_layers, n_head=sub.num_heads,
                      n_embd=sub.hidden_size, dropout=0.0, bias=sub.bias)
        return kind(**fields) if kind is GPTConfig else kind(**fields, n_codes_total=sub.n_codes_total,
                                                            n_codes_given=sub.n_codes_given)

    models = {}
    for key, attribute, model_class, config_class in (("text", "semantic", GPT, GPTConfig),
                                                      ("coarse", "coarse_acoustics", GPT, GPTConfig),
                                                      ("fine", "fine_acoustics", FineGPT, FineGPTConfig)):
        source = getattr(bark.model, attribute)
        model = model_class(config(source.config, config_class))
        model.load_state_dict(suno_state(source), strict=True)
        models[key] = model.to(bark.device, dtype).eval()
    models["text"] = {"model": models["text"], "tokenizer": bark.processor.tokenizer}
    models["codec"] = bark.model.codec_model
    return models


@contextlib.contextmanager
def suno_loaded(bark):
    import torch

    generation = suno_generation()
    saved = dict(generation.models)
    generation.models.clear()
    generation.models.update(suno_models(bark, getattr(torch, getattr(bark, "dtype", "float32"))))
    try:
        yield generation
    finally:
        generation.models.clear()
        generation.models.update(saved)


def suno_run(generation, text: str, tokens: int, seed: int) -> dict[str, float]:
    """suno's four calls for one text (suno generates one text at a time), ``tokens`` semantic tokens exactly."""
    import torch

    torch.manual_seed(seed)
    times, started = {}, time.perf_counter()
    semantic = generation.generate_text_semantic(text, None, temp=0.7, silent=True, allow_early_stop=False,
                                                 max_gen_duration_s=(tokens - 0.5) / 49.9, use_kv_caching=True)
    times["semantic"], started = time.perf_counter() - started, time.perf_counter()
    coarse = generation.generate_coarse(semantic, None, temp=0.7, silent=True, use_kv_caching=True)
    times["coarse"], started = time.perf_counter() - started, time.perf_counter()
    fine = generation.generate_fine(coarse, None, temp=0.5, silent=True)
    times["fine"], started = time.perf_counter() - started, time.perf_counter()
    with torch.inference_mode():
        generation.codec_decode(fine)
    times["decode"] = time.perf_counter() - started
    times["audio_seconds"] = fine.shape[1] / 75
    return times


def transformers_run(bark, texts: list[str], voice, tokens: int, seed: int) -> dict[str, float]:
    """transformers' loops on one batch of ``texts`` in one voice (end of speech out of reach)."""
    from reference_bark import transformers_generate

    times: dict[str, float] = {}
    _, _, lengths, _ = transformers_generate(bark, texts, voice, seed, min_eos_p=2.0, max_semantic_tokens=tokens,
                                             times=times)
    times["audio_seconds"] = float(lengths.sum()) / 2 / 75
    return times

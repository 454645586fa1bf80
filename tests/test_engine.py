"""The Bark engine: every stage's logits equal transformers' for the same inputs, greedy generation gives
transformers' tokens (sampled draws follow transformers' distributions: ``test_sampling``), a batch of rows in
different voices (prompts of different lengths, a stock voice, none, adapters) gives each row exactly what it gives
alone, at any batch size and position, and each row's adapters give peft's logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference_bark import transformers_generate

from bark_clone.bark.core import load_bark
from bark_clone.bark.engine import CausalStage, FineStage
from bark_clone.bark.generation import generate, semantic_until_end
from bark_clone.options import Sampling
from bark_clone.prompting.format import SpeakerPrompt


@pytest.fixture(scope="module")
def long_bark(tmp_path_factory):
    """The tiny Bark saying up to 400 semantic tokens: 601 frames, 21 coarse windows and 2 fine windows."""
    import builders

    return load_bark(str(builders.build_bark(tmp_path_factory.mktemp("engine") / "bark",
                                             semantic_max_new_tokens=400)), "cpu")


def prompts():
    rng = np.random.default_rng(0)
    return (SpeakerPrompt.from_streams(rng.integers(0, 10_000, 300), rng.integers(0, 1024, (8, 451))),
            SpeakerPrompt.from_streams(rng.integers(0, 10_000, 60), rng.integers(0, 1024, (8, 90))))


def test_every_stage_gives_transformers_logits(long_bark):
    torch.manual_seed(0)
    for name in ("semantic", "coarse_acoustics"):
        model = getattr(long_bark.model, name)
        ids = torch.randint(0, model.config.input_vocab_size, (3, 50))
        stage, valid = CausalStage(model), torch.ones((3, 50), dtype=torch.bool)
        positions = torch.arange(50)[None].expand(3, -1)
        with torch.no_grad():
            expected = model(input_ids=ids).logits
            stage.start(3, 50)
            whole = stage.step(stage.embed(ids), positions, 0, valid, all_logits=True)
            stage.start(3, 50)  # a prefill, then one token at a time through the cache
            stepped = [stage.step(stage.embed(ids[:, :40]), positions[:, :40], 0, valid)]
            stepped += [stage.step(stage.embed(ids[:, j: j + 1]), positions[:, j: j + 1], j, valid)
                        for j in range(40, 50)]
        torch.testing.assert_close(whole, expected, rtol=0, atol=1e-4)
        torch.testing.assert_close(torch.stack(stepped, 1), expected[:, 39:], rtol=0, atol=1e-4)
    fine = long_bark.model.fine_acoustics
    codes = torch.randint(0, 1025, (2, 1024, 8))
    with torch.no_grad():
        for codebook in range(2, 8):
            torch.testing.assert_close(FineStage(fine).logits(codebook, codes), fine(codebook, codes).logits,
                                       rtol=0, atol=1e-4)


def test_a_left_padded_row_gives_its_own_logits(long_bark):
    """Rows of different lengths share a batch: the shorter one padded on the left, masked, its positions its own."""
    model = long_bark.model.coarse_acoustics
    stage = CausalStage(model)
    short, long = torch.randint(0, 12_000, (1, 30)), torch.randint(0, 12_000, (1, 45))
    with torch.no_grad():
        alone = model(input_ids=short).logits[:, -1]
        ids = torch.cat([torch.cat([torch.zeros((1, 15), dtype=torch.long), short], 1), long])
        positions = torch.stack([torch.cat([torch.zeros(15, dtype=torch.long), torch.arange(30)]), torch.arange(45)])
        valid = torch.ones((2, 45), dtype=torch.bool)
        valid[0, :15] = False
        stage.start(2, 45)
        batched = stage.step(stage.embed(ids), positions, 0, valid)
    torch.testing.assert_close(batched[:1], alone, rtol=0, atol=1e-4)
    torch.testing.assert_close(batched[1:], model(input_ids=long).logits[:, -1], rtol=0, atol=1e-4)


def test_one_row_gives_transformers_tokens_greedily(long_bark):
    """Greedy: the same tokens as transformers' three loops, for every kind of voice."""
    long, _ = prompts()
    for voice in (None, long, "v2/en_speaker_1"):
        semantic, _, lengths, fine = transformers_generate(long_bark, ["hello there my friend"], voice, seed=5,
                                                           greedy=True, max_semantic_tokens=120)
        long_bark.configs.semantic.max_new_tokens = 120
        try:
            (ours,) = generate(long_bark, [("hello there my friend", voice)], Sampling(greedy=True), seed=5)
        finally:
            long_bark.configs.semantic.max_new_tokens = 400
        np.testing.assert_array_equal(ours.semantic_tokens, semantic_until_end(semantic[0].numpy()))
        np.testing.assert_array_equal(ours.fine_codes, fine[0, :, : int(lengths[0]) // 2].numpy())
        assert ours.fine_codes.shape[1] == 180


@pytest.mark.parametrize("greedy", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_batch_of_different_voices_gives_each_row_what_it_gives_alone(long_bark, greedy):
    """Greedy, and sampled too: each row draws from its own seeded generator."""
    long, short = prompts()
    rows = [("hello there my friend", long), ("a second, longer sentence to say", None), ("three", short),
            ("four four", "v2/en_speaker_1")]
    seeds = [11, 12, 13, 14]
    batched = generate(long_bark, rows, Sampling(greedy=greedy), seeds)
    reversed_pairs = generate(long_bark, rows[::-1], Sampling(greedy=greedy), seeds[::-1], batch_size=2)[::-1]
    for row, seed, together, other in zip(rows, seeds, batched, reversed_pairs):
        (alone,) = generate(long_bark, [row], Sampling(greedy=greedy), [seed])
        for made in (together, other):  # a batch of 4, and batches of 2 in the other order
            np.testing.assert_array_equal(made.semantic_tokens, alone.semantic_tokens)
            np.testing.assert_array_equal(made.fine_codes, alone.fine_codes)
            np.testing.assert_allclose(made.audio, alone.audio, atol=1e-5)
    assert not np.array_equal(batched[0].fine_codes, batched[2].fine_codes)  # the voices do differ


def test_rows_of_different_lengths_leave_the_batch_with_their_own_codes(long_bark):
    """The acoustic loops on rows whose semantic tokens differ in length (0 to 400 tokens, 0 to 11 coarse windows,
    1 or 2 fine windows) and whose histories differ: batched, each row equals itself alone."""
    from bark_clone.bark.rows import coarse_row, coarse_stage, fine_stage
    from bark_clone.bark.sampling import Draws

    long, short = prompts()
    rng = np.random.default_rng(1)
    lengths, voices = (400, 37, 0, 150), (long.arrays, None, short.arrays, short.arrays)
    semantic = [rng.integers(0, 10_000, n) for n in lengths]
    sampling = Sampling()  # sampled: each row draws from its own stream
    coarse_model, fine_model = CausalStage(long_bark.model.coarse_acoustics), FineStage(long_bark.model.fine_acoustics)

    def acoustic(indices):
        draws = Draws.seeded([10 + index for index in indices], len(indices), "cpu")
        with torch.no_grad():
            coarse = coarse_stage(coarse_model, [coarse_row(semantic[i], voices[i]) for i in indices], sampling, draws,
                                  "cpu")
            return fine_stage(fine_model, coarse, [None if voices[i] is None else voices[i]["fine_prompt"]
                                                   for i in indices], sampling, draws, "cpu")

    together = acoustic(range(4))
    assert [codes.shape[1] for codes in together] == [601, 55, 0, 225]
    for index in range(4):
        np.testing.assert_array_equal(together[index], acoustic([index])[0])


def test_a_stage_wearing_lora_layers_gives_peft_logits(long_bark):
    """A voice's adapters switched in with peft (the server's way) take part in the engine's passes."""
    from peft import LoraConfig, get_peft_model

    from bark_clone.voices.adapters import LORA_TARGETS

    model = long_bark.model.coarse_acoustics
    torch.manual_seed(1)
    wrapped = get_peft_model(model, LoraConfig(r=4, lora_alpha=4, target_modules=list(LORA_TARGETS)))
    with torch.no_grad():
        for name, parameter in wrapped.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
        ids = torch.randint(0, 12_000, (2, 40))
        stage = CausalStage(model)  # the same module object, its layers now LoRA layers
        stage.start(2, 40)
        ours = stage.step(stage.embed(ids), torch.arange(40)[None].expand(2, -1), 0, torch.ones((2, 40), dtype=bool),
                          all_logits=True)
        adapted = wrapped(input_ids=ids).logits
        with wrapped.disable_adapter():
            base = wrapped(input_ids=ids).logits
    wrapped.unload()
    torch.testing.assert_close(ours, adapted, rtol=0, atol=1e-4)
    assert (adapted - base).abs().max() > 1e-2  # the adapter does change the logits


def test_offloaded_stages_are_brought_to_their_device_before_they_run(long_bark, monkeypatch):
    """--offload: accelerate moves a stage when its forward runs, and the engine never calls forward, so the engine
    runs the hook itself, for each stage and the codec, in order."""
    brought = []

    class Hook:
        def __init__(self, name):
            self.name = name

        def pre_forward(self, module, *args, **kwargs):
            brought.append(self.name)
            return args, kwargs

    for name in ("semantic", "coarse_acoustics", "fine_acoustics", "codec_model"):
        monkeypatch.setattr(getattr(long_bark.model, name), "_hf_hook", Hook(name), raising=False)
    generate(long_bark, [("hello", None)], Sampling(greedy=True), 1)
    assert brought == ["semantic", "coarse_acoustics", "fine_acoustics", "codec_model"]


def random_adapter(model, rank: int, seed: int, key: str):
    """A peft LoRA on ``model``'s projections with random A and B: its state dict in the file's names, and the
    same weights as the engine's per-row ``StageAdapter``."""
    from pathlib import Path

    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    from bark_clone.voices.adapters import LORA_TARGETS, Adapter, stage_adapter

    config = {"r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.0, "target_modules": sorted(LORA_TARGETS)}
    torch.manual_seed(seed)
    wrapped = get_peft_model(model, LoraConfig(**config))
    with torch.no_grad():
        for name, parameter in wrapped.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    tensors = {name: tensor.clone() for name, tensor in get_peft_model_state_dict(wrapped).items()}
    wrapped.unload()
    return tensors, stage_adapter(Adapter(config, key, Path("unused"), key), tensors)


def peft_wearing(model, tensors, rank: int):
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    from bark_clone.voices.adapters import LORA_TARGETS

    wrapped = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(LORA_TARGETS)))
    set_peft_model_state_dict(wrapped, tensors)
    return wrapped.eval()


def test_each_rows_adapters_give_peft_logits_in_one_batch(long_bark):
    """Rows of two adapters (ranks 4 and 2, padded to 4 in the stack) and of none share one pass of the coarse and
    the fine stage; each row's logits equal its own voice through peft's forward, to 1e-5 in float32."""
    from bark_clone.bark.lora import BatchLoRA

    for name in ("coarse_acoustics", "fine_acoustics"):
        model = getattr(long_bark.model, name)
        first, second = random_adapter(model, 4, 1, "a"), random_adapter(model, 2, 2, "b")
        worn = [first[1], None, second[1], first[1]]
        if name == "coarse_acoustics":
            ids = torch.randint(0, 12_000, (4, 40), generator=torch.Generator().manual_seed(3))
            stage = CausalStage(model)
            stage.lora = BatchLoRA.of(worn, "cpu").select([0, 1, 2, 3])
            stage.start(4, 40)
            with torch.no_grad():
                ours = stage.step(stage.embed(ids), torch.arange(40)[None].expand(4, -1), 0,
                                  torch.ones((4, 40), dtype=bool), all_logits=True)

            def reference(module, row):
                return module(input_ids=ids[row: row + 1]).logits[0]
        else:
            codes = torch.randint(0, 1024, (4, 1024, 8), generator=torch.Generator().manual_seed(3))
            stage = FineStage(model)
            stage.lora = BatchLoRA.of(worn, "cpu").select([0, 1, 2, 3])
            with torch.no_grad():
                ours = stage.logits(5, codes)

            def reference(module, row):
                return module(5, codes[row: row + 1]).logits[0]
        with torch.no_grad():
            expected = [reference(model, 1)]
            for row, (tensors, rank) in ((0, (first[0], 4)), (2, (second[0], 2)), (3, (first[0], 4))):
                wrapped = peft_wearing(model, tensors, rank)
                expected.insert(row, reference(wrapped, row))
                wrapped.unload()
        for row in range(4):
            torch.testing.assert_close(ours[row], expected[row], rtol=0, atol=1e-5)
        assert (ours[0] - ours[1]).abs().max() > 1e-2 and (ours[0] - ours[2]).abs().max() > 1e-2  # they do differ
        assert not any("lora" in key for key, _ in model.named_parameters())  # the shared stage untouched


def test_adapter_voices_share_a_generation_and_equal_peft_alone(long_bark):
    """A generation of a plain prompt, a stock voice and two adapter voices: each row's tokens equal the same
    voice generated alone through peft's attached layers (the way a voice was worn before)."""
    from bark_clone.bark.lora import Worn

    long, short = prompts()
    adapters = {key: {name: random_adapter(getattr(long_bark.model, name), rank, seed, key)
                      for name in ("coarse_acoustics", "fine_acoustics")}
                for key, rank, seed in (("a", 4, 5), ("b", 2, 6))}
    voices = {key: Worn(short, {name: pair[1] for name, pair in stages.items()}) for key, stages in adapters.items()}
    rows = [("hello there my friend", voices["a"]), ("a plain prompt", long), ("a stock voice", "v2/en_speaker_1"),
            ("the second voice", voices["b"])]
    sampling = Sampling(greedy=True)
    together = generate(long_bark, rows, sampling, seed=1)
    for index, (text, voice) in enumerate(rows):
        if isinstance(voice, Worn):
            key = "a" if voice is voices["a"] else "b"
            wrapped = [peft_wearing(getattr(long_bark.model, name), tensors, 4 if key == "a" else 2)
                       for name, (tensors, _) in adapters[key].items()]
            try:
                (alone,) = generate(long_bark, [(text, short)], sampling, seed=1 + index)
            finally:
                for model in wrapped:
                    model.unload()
            (plain,) = generate(long_bark, [(text, short)], sampling, seed=1 + index)
            assert not np.array_equal(plain.fine_codes, alone.fine_codes)  # the adapters change what is said
        else:
            (alone,) = generate(long_bark, [(text, voice)], sampling, seed=1 + index)
        np.testing.assert_array_equal(together[index].fine_codes, alone.fine_codes)


def test_each_row_stops_at_its_own_budget(long_bark):
    """Random Bark never ends its speech: each row runs to its budget, which follows its text, not to one cap."""
    from bark_clone.bark.generation import semantic_budget

    texts = ["hi", "a sentence of ordinary length"]
    sampling = Sampling()
    made = generate(long_bark, [(text, None) for text in texts], sampling, seed=2)
    budgets = [semantic_budget(text, sampling) for text in texts]
    assert budgets[0] < budgets[1] <= 400
    assert [len(generation.semantic_tokens) for generation in made] == budgets
    assert not any(generation.ended for generation in made)
    (capped,) = generate(long_bark, [(texts[0], None)], Sampling(semantic_budget=None), seed=2)
    assert len(capped.semantic_tokens) == 400  # without a budget: the checkpoint's cap

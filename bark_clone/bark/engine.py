"""Bark's three transformers, run by our own small code on the weights transformers loaded: fused attention
(``scaled_dot_product_attention``), a key/value cache allocated once and written in place, per-row positions and
masks (so rows of one batch may carry histories of different lengths), and logits for the last position only.

transformers' Bark has only eager and FlashAttention-2 attention and grows its cache by concatenation. The modules
themselves (layer norms, projections, heads) are called, not copied: a stage wearing peft's LoRA layers (a voice's
adapters, switched per request) runs here exactly as it does in transformers.
"""

from __future__ import annotations

from typing import Any

from .lora import PROJECTIONS


def bring_to_device(module) -> None:
    """``--offload``: accelerate keeps each stage on the CPU until its ``forward`` runs; the engine calls a stage's
    layers, never its ``forward``, so it runs accelerate's hook itself (this stage to the GPU, the previous back)."""
    hook = getattr(module, "_hf_hook", None)
    if hook is not None:
        hook.pre_forward(module)


def _split_heads(tensor, heads: int):
    batch, length, width = tensor.shape
    return tensor.view(batch, length, heads, width // heads).transpose(1, 2)


def _block(layer, names: tuple[str, ...], hidden, attend, heads: int, width: int, lora=None):
    """One Bark block (pre-norm attention, then the MLP); ``attend(q, k, v)`` does the attention itself; ``lora``
    adds each row's adapters to the projections ``names`` (``lora.PROJECTIONS`` of this layer)."""
    def project(linear, name, inputs):
        output = linear(inputs)
        return output if lora is None else lora.add(name, inputs, output)

    att_proj, out_proj, in_proj, mlp_out = names
    query, key, value = project(layer.attn.att_proj, att_proj, layer.layernorm_1(hidden)).split(width, dim=2)
    mixed = attend(_split_heads(query, heads), _split_heads(key, heads), _split_heads(value, heads))
    hidden = hidden + project(layer.attn.out_proj, out_proj, mixed.transpose(1, 2).reshape(hidden.shape))
    mlp = layer.mlp
    return hidden + project(mlp.out_proj, mlp_out, mlp.gelu(project(mlp.in_proj, in_proj, layer.layernorm_2(hidden))))


def head_logits(head, hidden, vocabulary=None):
    """``head(hidden)``, or only its ``vocabulary`` slice of logits when the head is a plain ``Linear``."""
    import torch
    import torch.nn.functional as F

    if vocabulary is None or type(head) is not torch.nn.Linear:
        logits = head(hidden)
        return logits if vocabulary is None else logits[..., vocabulary]
    return F.linear(hidden, head.weight[vocabulary], None if head.bias is None else head.bias[vocabulary])


def _projection_names(model) -> list[tuple[str, ...]]:
    return [tuple(f"layers.{index}.{projection}" for projection in PROJECTIONS) for index in range(len(model.layers))]


class CausalStage:
    """The semantic or the coarse model (a ``BarkCausalModel``) with a static cache.

    ``start(batch, capacity)`` allocates the cache; ``step(embeds, positions, offset, key_valid)`` runs
    ``embeds`` (B, T, D) at cache slots ``offset .. offset + T``, each row's tokens at its own ``positions`` (B, T),
    attending to the earlier slots that ``key_valid`` (B, capacity) marks as real; it returns the last slot's logits
    (B, V), or every slot's with ``all_logits``."""

    def __init__(self, model) -> None:
        bring_to_device(model)
        self.model = model
        self.heads, self.width = model.config.num_heads, model.config.hidden_size
        self.names = _projection_names(model)
        self.cache: Any = None
        self.lora: Any = None  # a lora.BatchLoRA selected for the rows of the next steps, or None

    def embed(self, ids):
        return self.model.input_embeds_layer(ids)

    def start(self, batch: int, capacity: int) -> None:
        import torch

        weight = self.model.position_embeds_layer.weight
        shape = (len(self.model.layers), 2, batch, self.heads, capacity, self.width // self.heads)
        if self.cache is None or self.cache.shape != shape or self.cache.dtype != weight.dtype:
            self.cache = torch.empty(shape, dtype=weight.dtype, device=weight.device)

    def step(self, embeds, positions, offset: int, key_valid, all_logits: bool = False, vocabulary=None):
        """One pass over ``embeds`` (see the class). ``vocabulary`` (a slice): only those logits, from that part of the
        head alone (the coarse model picks among one codebook's 1024 codes a step: a twelfth of its head)."""
        length = embeds.shape[1]
        end = offset + length
        attention = self._attention(key_valid, offset, end, length, embeds.device)
        hidden = embeds + self.model.position_embeds_layer(positions)
        for index, (layer, names) in enumerate(zip(self.model.layers, self.names)):
            cache = self.cache[index]

            def attend(query, key, value, cache=cache):
                cache[0, :, :, offset:end] = key
                cache[1, :, :, offset:end] = value
                return attention(query, cache[0, :, :, :end], cache[1, :, :, :end])

            hidden = _block(layer, names, hidden, attend, self.heads, self.width, self.lora)
        if not all_logits:
            hidden = hidden[:, -1:]
        logits = head_logits(self.model.lm_head, self.model.layernorm_final(hidden), vocabulary)
        return logits if all_logits else logits[:, -1]

    @staticmethod
    def _attention(key_valid, offset: int, end: int, length: int, device):
        """How slots ``offset .. end`` attend: causally, to real keys only (a padding slot sees itself, so no row
        of the softmax is empty). A prefill without padding uses SDPA's own causal kernel; a one-token step on the
        CPU multiplies matrices instead (measured here: SDPA's kernel takes 3.8 ms where two matrix products and a
        float32 softmax take 0.75 ms, in bfloat16, 8 rows x 900 keys)."""
        import torch
        import torch.nn.functional as F

        if length == 1:  # one new token: it sees every real key so far (its own slot is always real)
            padded, mask = not bool(key_valid[:, :end].all()), key_valid[:, None, None, :end]
        else:
            padded = not bool(key_valid[:, :end].all())
            queries = torch.arange(offset, end, device=device)[:, None]
            keys = torch.arange(end, device=device)[None, :]
            mask = (((keys <= queries)[None] & key_valid[:, None, :end]) | (keys == queries)[None])[:, None]
        if length == 1 and device.type == "cpu":
            def by_products(query, key, value):
                scores = (query @ key.transpose(-1, -2)) * query.shape[-1] ** -0.5
                if padded:
                    scores = scores.masked_fill(~mask, float("-inf"))
                return torch.softmax(scores.float(), dim=-1).to(value.dtype) @ value
            return by_products
        if not padded and offset == 0:
            return lambda query, key, value: F.scaled_dot_product_attention(query, key, value, is_causal=True)
        return lambda query, key, value: F.scaled_dot_product_attention(query, key, value, attn_mask=mask)


class FineStage:
    """The fine model (``BarkFineModel``): non-causal over a 1024-frame window, one head per predicted codebook."""

    def __init__(self, model) -> None:
        bring_to_device(model)
        self.model = model
        self.heads, self.width = model.config.num_heads, model.config.hidden_size
        self.names = _projection_names(model)
        self.lora: Any = None  # a lora.BatchLoRA selected for the rows of the next windows, or None

    def logits(self, codebook: int, codes):
        """(B, T, vocabulary) logits of ``codebook`` from ``codes`` (B, T, 8): codebooks 0..codebook are read."""
        return self.head(codebook, self.hidden(codebook, codes))

    def hidden(self, codebook: int, codes):
        """The final layer norm's output (B, T, D) for ``codebook``'s head, from ``codes`` (B, T, 8)."""
        import torch
        import torch.nn.functional as F

        model = self.model
        embeds = model.input_embeds_layers[0](codes[:, :, 0])
        for index in range(1, codebook + 1):
            embeds = embeds + model.input_embeds_layers[index](codes[:, :, index])
        positions = torch.arange(codes.shape[1], device=codes.device)[None]
        hidden = embeds + model.position_embeds_layer(positions)
        for layer, names in zip(model.layers, self.names):
            hidden = _block(layer, names, hidden, lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
                            self.heads, self.width, self.lora)
        return model.layernorm_final(hidden)

    def head(self, codebook: int, hidden, vocabulary=None):
        """``codebook``'s logits from ``hidden`` (any frames of it), or only their ``vocabulary`` slice."""
        return head_logits(self.model.lm_heads[codebook - self.model.config.n_codes_given], hidden, vocabulary)

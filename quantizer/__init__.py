"""Quantizers: models that map HuBERT features to Bark semantic tokens, their file formats and their training.

This package is pure ML. It never imports ``bark_clone``: rates and sizes arrive as arguments.

- ``models``: the quantizer architectures (context, LSTM v0/v1) and their predictions.
- ``formats``: their files: our safetensors format and gitmylo's published checkpoints, read as data.
- ``data``: training examples: features aligned with tokens, split, batched.
- ``train``: the training loop, its metrics and resumable checkpoints.
- ``distributed``: torchrun: each process's device and share, gradients summed.
- ``jsonio``: strict JSON in and out (non-finite numbers written as null), shared with the application.
"""

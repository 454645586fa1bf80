"""Quantizers: models that map HuBERT features to Bark semantic tokens, their file formats and their training.

This package is pure ML. It never imports ``bark_clone``: rates and sizes arrive as arguments.
"""

"""The command line: a thin click layer over the library, the top of the layers.

``main`` (the ``bark-clone`` entry point) and the group ``cli`` live in ``main.py``; each command family has its
module (``speaker``: make-speaker, inspect, decode; ``speak``; ``evaluate``; ``search``; ``serve``; ``training``:
generate-data, import-data, train-quantizer, evaluate-quantizer; ``voice``: train-voice), imported only when its
command runs. ``options``
holds the options several commands share.
"""

from .main import cli, main

__all__ = ["cli", "main"]

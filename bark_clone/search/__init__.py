"""Searching for the prompt that sounds most like the target, above evaluate (whose score it uses).

- ``candidates``: windows, their moves, stock voices and bootstraps, content-addressed, and their scoring.
- ``steps``: the search itself: the starting population, expand, score, keep the best, stop.
- ``state``: its state in ``--work`` (search.json, candidates/, top-K, search.png), validated on load, locked.
- ``command``: ``bark-clone search`` as a library call, and the result's sidecar.
"""

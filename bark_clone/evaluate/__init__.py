"""Does a clone sound like the target? The score, the evaluate command's logic and its report.

- ``scoring``: KVoiceWalk's score: target, self and feature similarity and their harmonic mean.
- ``evaluation``: ``run_evaluation``: each voice and the baselines (method 1, stock voices, other quantizers).
- ``report``: report.json, report.md and the plot.
"""

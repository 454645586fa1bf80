"""make-speaker: a recording in, a speaker prompt out, as a command (the building blocks are ``prompting``).

- ``command``: ``run_make_speaker``: inputs and outputs checked before any model loads, the consent checked, the
  prompts made and written together.
- ``refine``: ``--refine``: the window whose Bark speech scores best against the recording.
"""

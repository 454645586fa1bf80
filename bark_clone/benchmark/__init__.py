"""bark-clone benchmark: the field's zero-shot cloning benchmark (Seed-TTS-eval's test lists, LibriSpeech-PC) for
our systems, scored with the field's meters.

- ``lists``: the test lists read as data (Seed-TTS-eval's ``meta.lst``, F5-TTS's LibriSpeech-PC list).
- ``systems``: the columns: our prompt, method 1, the nearest stock voice, a searched prompt, a trained voice.
- ``meters``: WER with the protocol's normalisation (jiwer), SIM (WavLMForXVector) and GE2E.
- ``command``: ``run_benchmark``: every system in mixed-voice batches, each row stored as it finishes.
- ``report``: means with bootstrap intervals, the CSV, the plot, and the published numbers apart.
"""

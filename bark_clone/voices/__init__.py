"""Voices: a speaker prompt plus LoRA adapters of Bark's coarse and fine models, trained by train-voice.

- ``folder``: the voice folder format, read (``load_voice``, ``open_speaker``) and written (``write_voice``) here only.
- ``adapters``: a voice's LoRA adapters checked as data (configuration, weights against the stage), then attached.
- ``switch``: how Bark wears a voice: merged for good, or attached for one job on a shared Bark (``VoiceSwitch``).
- ``command``: train-voice (``train_voice``): gather the speech, train each stage, write the folder.
- ``data``: the speaker's speech in pieces, the held-out split, the prompt.
- ``loss``: the coarse and fine stages' losses on the windows Bark itself reads.
- ``train``: one stage's LoRA training (peft), measured on held-out speech every epoch.
- ``checkpoint``: an interrupted run's checkpoint (read as data), and the metrics plot.
"""

"""The ground floor every capability loads its models through, below everything that uses them.

- ``loading``: a hub id or a local folder, the offline message, the device, the checked transformers loader.
- ``devices``: the CPU's flags and the precision ``auto`` means on this device.
- ``codecs``: HuBERT and EnCodec, checked, and their forward passes (features; codes at 6 kbps and back).
- ``recognizer``: the speech recognizers (Whisper, CTC) of the words check and the benchmark, warmed up at load.
- ``decoders``: the one seam where codes become audio: EnCodec's decoder or Vocos, chosen by name.
- ``vocos``: Vocos for EnCodec tokens in torch, its checkpoint read as data.
"""

"""Long text in the cloned voice: chunks, the consistency guard, generation with retries, and the speak command.

- ``chunking``: sentences (sentencex) packed into chunks Bark can say whole; linear in the text, nothing lost.
- ``consistency``: the guard: the speaker's reference (sidecar window or prompt decode) and each chunk's verdict.
- ``longform``: ``speak_long``: batches, retries, the best try of every chunk, the report.
- ``command``: ``bark-clone speak`` as a library call: inputs checked before any model loads, outputs written.
"""

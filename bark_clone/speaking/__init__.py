"""Long text in the cloned voice: chunks, the consistency guard, generation with retries, and the speak command.

- ``chunking``: sentences (sentencex) packed into chunks Bark can say whole; linear in the text, nothing lost.
- ``consistency``: the guard: the speaker's reference (sidecar window or prompt decode) and each chunk's verdict.
- ``longform``: ``speak_long``: batches, retries, the best try of every chunk, the report.
- ``session``: ``SpeakingSession``: what every job of a process shares (Bark, listeners, words check, generator).
- ``command``: ``bark-clone speak`` as a library call: inputs checked before any model loads, outputs written.
- ``script``: scripts of ``NAME: text`` lines, each in its speaker's voice, paragraphs as longer pauses.
- ``words``: the word (or character) error rate, with jiwer, after a shared normalisation.
- ``report``: the long-form report (chunks, tries, flags) and its summary.
- ``consent``: a recorded consent checked: its speaker against the sample's, its words against the statement.
"""

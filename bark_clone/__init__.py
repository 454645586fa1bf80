"""bark-clone: turn a voice recording into a Bark speaker prompt whose three token streams come from the same audio."""

__version__ = "0.1.0"

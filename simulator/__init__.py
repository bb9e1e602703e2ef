"""AstrBot reference simulator: the HTTP and WebSocket contract of specs/, with deterministic
local back-ends (LLM, speech-to-text, text-to-speech) and an embedded SQLite store."""

__version__ = "0.1.0"

"""The HTTP kernel: what every handler stands on (routing from the spec, envelopes, validation,
forms, safe paths, background tasks, SSE, the clock). It imports no domain or handler module."""

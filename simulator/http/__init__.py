"""The simulator's HTTP side, in three layers: kernel/ (routing from the spec, envelopes,
validation, forms, safe paths, tasks, SSE, the clock), domain/ (stores and services, never an
HTTP request) and handlers/ (one module or small package per seed-004 tag)."""

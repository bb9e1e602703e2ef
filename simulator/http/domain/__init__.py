"""The domain layer: the stores and services behind the handlers (plugin registry, event log,
chat streaming, knowledge bases, backups...). It takes the simulator or its store, never an
HTTP request, and imports only the kernel."""

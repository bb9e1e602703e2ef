"""The Live API: a sans-I/O session engine (engine.py) and its aiohttp adapter (ws.py)."""

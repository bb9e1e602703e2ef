"""Every live check first needs the endpoint to exist. One probe per run, with valid
credentials: a handshake refused as "no such endpoint" makes every live requirement
UNIMPLEMENTED (with the probe's wire log), instead of each check failing on its own."""

from __future__ import annotations

import pytest

from conformance.clients.transcript import Transcript
from conformance.scenario import live_key, open_live, run


@pytest.fixture(scope="session")
def live_endpoint(target, creds) -> Transcript:
    transcript = Transcript("probe: is /api/v1/live/ws there?")

    async def probe():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        await client.close()

    run(probe(), target)
    return transcript


@pytest.fixture(autouse=True)
def _requires_live_endpoint(live_endpoint) -> None:
    """Every live check waits for the probe; its log is not part of their evidence."""

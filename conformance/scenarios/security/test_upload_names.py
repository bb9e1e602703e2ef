"""Path safety of uploads (ASVS 12.3.1), only on a target that may be written to
(`--allow-writes`): a file uploaded under a hostile name (`../` climbing, backslashes, an
absolute path) to both upload operations of seed 004 (uploadOpenApiFile, uploadFile) is stored
under a plain base name inside the target's files, reads back by its id, and, on a target on
this machine (a loopback URL), leaves nothing at the place the name pointed to. Each upload is
deleted again (deleteAttachment)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conformance.clients.http import arequest
from conformance.clients.transcript import Transcript
from conformance.scenario import run
from conformance.scenarios.security.common import call, ok_data, said

UPLOADS = ("/api/v1/file", "/api/v1/files")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def hostile_names(token: str) -> dict[str, tuple[str, Path | None]]:
    """kind -> (the name sent, where it would land outside, when that place is knowable)."""
    outside = Path(tempfile.gettempdir()) / f"conformance-escape-{token}.txt"
    return {"../ climbing": ("../" * 12 + str(outside).lstrip("/"), outside),
            "backslashes": ("..\\" * 12 + f"conformance-escape-{token}.txt", None),
            "absolute": (str(outside), outside)}


def multipart(name: str, content: bytes) -> tuple[bytes, str]:
    """The name unencoded, as curl and browsers send it (aiohttp would percent-encode it)."""
    boundary = "conformance" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n").encode() \
        + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.requirement("SEC-PATH-001")
@pytest.mark.parametrize("upload", UPLOADS)
@pytest.mark.parametrize("kind", ["../ climbing", "backslashes", "absolute"])
def test_an_upload_name_stays_inside(target, creds, evidence, upload, kind):
    if not target.allow_writes:
        pytest.skip("uploads write to the target: only with --allow-writes")
    log = Transcript(f"upload to {upload} named with {kind}")
    evidence.append(log)
    token = uuid.uuid4().hex[:12]
    name, outside = hostile_names(token)[kind]
    content = f"conformance upload {token}\n".encode()
    headers = {"X-API-Key": creds.key_for("file")}
    body, content_type = multipart(name, content)
    sent = run(arequest("POST", target.http_url(upload), data=body, timeout=target.timeout,
                        transcript=log, headers={**headers, "Content-Type": content_type}),
               target)
    data = ok_data(sent)
    attachment = data.get("attachment_id") if isinstance(data, dict) else None
    try:
        here = urlsplit(target.base_url).hostname in LOOPBACK
        escaped = here and outside is not None and outside.exists()
        assert not escaped, f"an upload to {upload} named with {kind} was written outside the " \
            "target's files, where the name pointed"
        if attachment is None:
            return  # refused: nothing stored anywhere
        stored = data.get("filename")
        assert isinstance(stored, str) and "/" not in stored and "\\" not in stored \
            and stored not in (".", ".."), \
            f"an upload to {upload} named with {kind} was stored as a path: {stored!r}"
        back = call(target, log, "GET", "/api/v1/file", headers=headers,
                    query=f"?attachment_id={attachment}")
        assert back.status == 200 and back.text.encode() == content, \
            f"the upload named with {kind} does not read back by its id: {said(back)}"
    finally:
        if attachment is not None:
            call(target, log, "DELETE", f"/api/v1/files/{attachment}", headers=headers)
        if outside is not None and outside.exists() and token in outside.name:
            outside.unlink()  # what the target wrongly wrote on this machine

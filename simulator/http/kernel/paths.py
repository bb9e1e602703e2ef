"""Client-named paths (skill files, backups, plugin pages, files) stay inside the data
directory: `..`, absolute paths, backslashes, NUL and percent-encoded separators are refused
with a 400 before anything touches the disk."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from .envelope import ApiError


def safe_relative(raw: str, what: str = "path") -> PurePosixPath:
    """A relative path with no way out, or ApiError(400). Decodes once more so `%2e%2e%2f`
    that survived the router's decoding is caught too."""
    if raw is None or not str(raw).strip():
        raise ApiError(400, f"Missing {what}")
    text = str(raw)
    for candidate in (text, unquote(text)):
        if "\x00" in candidate or "\\" in candidate:
            raise ApiError(400, f"Invalid {what}: {raw!r}")
        pure = PurePosixPath(candidate)
        if pure.is_absolute() or ".." in pure.parts:  # `~x` is a name: nothing expands it
            raise ApiError(400, f"Invalid {what}: {raw!r} escapes its folder")
        if unquote(candidate) != candidate and "/" in unquote(candidate):
            raise ApiError(400, f"Invalid {what}: {raw!r} has an encoded separator")
    pure = PurePosixPath(text)
    if not pure.parts or pure.parts in ((".",),):
        raise ApiError(400, f"Invalid {what}: {raw!r}")
    return pure


def safe_name(raw: str, what: str = "name") -> str:
    """One path segment (a skill name, a backup file name): no separators at all."""
    rel = safe_relative(raw, what)
    if len(rel.parts) != 1:
        raise ApiError(400, f"Invalid {what}: {raw!r} must not contain a separator")
    return rel.parts[0]


def inside(root: Path, raw: str, what: str = "path") -> Path:
    """root / raw, checked again after resolving symlinks."""
    rel = safe_relative(raw, what)
    root = root.resolve()
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        raise ApiError(400, f"Invalid {what}: {raw!r} escapes its folder")
    return target


def escapes(raw) -> bool:
    """Whether a client-named path tries to leave its folder or hide a separator (refused
    with 400 everywhere, specs/contract-notes.yaml NOTE-PATH-SEGMENT): `..`, `/`, NUL,
    absolute, also once or twice percent-decoded (`~` is a plain character: no shell here)."""
    candidates = [str(raw)]
    while len(candidates) < 4 and unquote(candidates[-1]) != candidates[-1]:
        candidates.append(unquote(candidates[-1]))  # %252e%252e%252f is still a way out
    for candidate in candidates:
        posix = candidate.replace("\\", "/")
        if "\x00" in candidate or "/" in candidate:
            return True
        if ".." in PurePosixPath(posix).parts or posix.startswith("/"):
            return True
    return False


def lookup(check, raw, what: str):
    """`check(raw)` for a name that must name something that exists. A name that can never be
    valid (empty, control characters, a pattern the simulator keeps for its own files) names
    nothing: 404, since the contract's schema takes any string there. A name that tries to
    leave its folder stays a 400."""
    try:
        return check(raw)
    except ApiError as exc:
        if exc.status == 400 and not escapes(raw):
            raise ApiError(404, f"{what} {raw!r} not found") from None
        raise


def sanitize_name(raw, fallback: str) -> str:
    """A name the client gives to something it creates, made a safe file name the way AstrBot
    treats upload names (research FILE-003: NUL removed, spaces trimmed, an empty name replaced
    by a generated one), control characters dropped too. A name that tries to leave its folder
    is refused (400) before this."""
    text = "".join(c for c in str(raw) if c.isprintable()).strip()
    return fallback if text in ("", ".", "..") else text

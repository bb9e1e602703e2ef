"""One cached venv per AstrBot release: Python 3.12 found portably, ``pip install astrbot==V``,
and a fallback for a release whose pins the package index cannot satisfy yet.

- ``find_python312``: ``--python``, else pyenv (``pyenv prefix 3.12``, else the newest 3.12.x
  that ``pyenv versions --bare`` lists), else ``python3.12`` on PATH.
- ``ensure_venv``: a venv whose ``importlib.metadata.version('astrbot')`` is the release is
  ready as it is; otherwise it is created and AstrBot installed.
- the fallback (4.29.3 pinned ``certifi>=2026.10.19`` before the index had it): when pip says
  ``No matching distribution found for NAME>=X``, the wheel is downloaded alone, its
  Requires-Dist read, the lower bound of exactly the requirement(s) pip named relaxed, extras
  dropped, those installed, then the wheel with ``--no-deps``.

Stdlib only.
"""

from __future__ import annotations

import email.parser
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path


class Failure(Exception):
    """A step failed; the message says which and why (one line, then pip's tail)."""


class NoPython(Failure):
    """No Python >= 3.12 to create a venv with."""


# -- Python 3.12 -----------------------------------------------------------------------------
def python_version(python: str, path: str | None = None) -> tuple[int, int] | None:
    """(major, minor) of the interpreter `python`, or None when it does not run."""
    env = None if path is None else {**os.environ, "PATH": path}
    try:
        r = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=60, env=env)
        major, minor = r.stdout.split()[:2]
        return (int(major), int(minor)) if r.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def _out(argv: list[str], path: str | None) -> str | None:
    env = None if path is None else {**os.environ, "PATH": path}
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def _pyenv_python(path: str | None) -> str | None:
    pyenv = shutil.which("pyenv", path=path)
    if not pyenv:
        return None
    prefix = _out([pyenv, "prefix", "3.12"], path)
    if prefix and (Path(prefix.splitlines()[0]) / "bin" / "python").exists():
        return str(Path(prefix.splitlines()[0]) / "bin" / "python")
    listed = (_out([pyenv, "versions", "--bare"], path) or "").split()
    patch = [int(m[1]) for v in listed if (m := re.fullmatch(r"3\.12\.(\d+)", v))]
    root = _out([pyenv, "root"], path)
    if not patch or not root:
        return None
    candidate = Path(root) / "versions" / f"3.12.{max(patch)}" / "bin" / "python"
    return str(candidate) if candidate.exists() else None


def find_python312(explicit: str | None = None, path: str | None = None) -> str:
    """The interpreter to create venvs with: `explicit` (--python), else pyenv's 3.12, else
    ``python3.12`` on PATH (`path`, default $PATH). NoPython when none runs."""
    if explicit:
        version = python_version(explicit, path)
        if version is None or version < (3, 12):
            raise NoPython(f"--python {explicit}: not a runnable Python >= 3.12"
                           + (f" (it is {version[0]}.{version[1]})" if version else ""))
        return explicit
    for candidate in (_pyenv_python(path), shutil.which("python3.12", path=path)):
        if candidate and (python_version(candidate, path) or (0, 0)) >= (3, 12):
            return candidate
    raise NoPython("no Python 3.12 found (tried pyenv and python3.12 on PATH): install one "
                   "(e.g. `pyenv install 3.12`) or pass --python /path/to/python3.12")


# -- pip's "No matching distribution" and the relaxed pins -----------------------------------
NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._-]*)(\S*)")
LOWER_BOUND = re.compile(r"\s*(>=|>|~=)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def unsatisfiable(pip_stderr: str) -> dict[str, str]:
    """{canonical name: requirement as pip printed it} for each requirement pip could not
    satisfy (its `No matching distribution found for NAME>=X` lines)."""
    return {canonical(m[1]): m[1] + m[2] for m in NO_MATCH.finditer(pip_stderr)}


REQ = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*\(?([^;()]*)\)?\s*(;.*)?$")


def relax(requirement: str, names: set[str]) -> str | None:
    """A Requires-Dist entry as it is installed: None for an extras-only one; for a name in
    `names` (canonical), the entry without its lower bound (>=, >, ~=). Failure when such an
    entry has no lower bound to relax."""
    m = REQ.match(requirement)
    if not m:
        raise Failure(f"cannot read the requirement {requirement!r}")
    name, extras, spec, marker = m[1], m[2] or "", m[3], (m[4] or "").strip()
    if re.search(r"\bextra\s*==", marker):
        return None
    if canonical(name) not in names:
        return requirement
    specs = [s.strip() for s in spec.split(",") if s.strip()]
    kept = [s for s in specs if not LOWER_BOUND.match(s)]
    if kept == specs:
        raise Failure(f"{requirement!r} has no lower bound to relax")
    return f"{name}{extras}{','.join(kept)}{marker}"


def requires_dist(wheel: Path) -> list[str]:
    """The Requires-Dist entries of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(z.read(meta).decode())
    return msg.get_all("Requires-Dist") or []


# -- the venv --------------------------------------------------------------------------------
def installed_version(vpy: Path, package: str = "astrbot") -> str | None:
    try:
        r = subprocess.run(
            [str(vpy), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
            capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def venv_ready(venv: Path, version: str) -> bool:
    return installed_version(venv / "bin" / "python") == version


def _pip(vpy: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(vpy), "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)


def ensure_venv(venv: Path, version: str, python, say=print, package: str = "astrbot") -> float:
    """Make `venv` hold `package==version`; seconds spent (0.0 when it was ready).
    `python` is a callable returning the interpreter (called only when a venv is created)."""
    vpy = venv / "bin" / "python"
    if installed_version(vpy, package) == version:
        return 0.0
    t0 = time.monotonic()
    if not vpy.exists():
        interpreter = python()
        say(f"creating venv {venv} with {interpreter}")
        r = subprocess.run([interpreter, "-m", "venv", "--clear", str(venv)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure(f"python -m venv {venv} failed:\n{(r.stderr or r.stdout)[-2000:]}")
    say(f"pip install {package}=={version} (about 100 s and 750 MB for AstrBot)")
    r = _pip(vpy, "install", "-q", f"{package}=={version}")
    if r.returncode != 0:
        missing = unsatisfiable(r.stderr)
        if not missing:
            raise Failure(f"pip install {package}=={version} failed:\n{r.stderr[-3000:]}")
        _install_relaxed(vpy, package, version, missing, say)
    got = installed_version(vpy, package)
    if got != version:
        raise Failure(f"{venv} holds {package} {got}, not {version}, after the install")
    return time.monotonic() - t0


def _install_relaxed(vpy: Path, package: str, version: str, missing: dict[str, str],
                     say) -> None:
    """The fallback: the wheel alone, its requirements with the unsatisfiable lower bounds
    relaxed (extras dropped), then the wheel without dependencies."""
    with tempfile.TemporaryDirectory(prefix="astrbot-wheel-") as tmp:
        r = _pip(vpy, "download", "-q", "--no-deps", "-d", tmp, f"{package}=={version}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if r.returncode != 0 or not wheels:
            raise Failure(f"pip download --no-deps {package}=={version} failed:\n"
                          f"{r.stderr[-3000:]}")
        requirements = requires_dist(wheels[0])
        for _ in range(5):  # pip names one unsatisfiable requirement at a time
            plan = [p for p in (relax(q, set(missing)) for q in requirements) if p]
            relaxed = [q for q in requirements if REQ.match(q) and canonical(REQ.match(q)[1])
                       in missing]
            say(f"pip: no {', '.join(missing.values())} on the index: relaxed "
                f"{'; '.join(relaxed)} of {package} {version} to "
                f"{'; '.join(relax(q, set(missing)) or '' for q in relaxed)}")
            r = _pip(vpy, "install", "-q", *plan)
            if r.returncode == 0:
                break
            more = {k: v for k, v in unsatisfiable(r.stderr).items() if k not in missing}
            if not more:
                raise Failure(f"pip install of {package} {version}'s requirements failed:\n"
                              f"{r.stderr[-3000:]}")
            missing.update(more)
        else:
            raise Failure(f"pip install of {package} {version}'s requirements failed")
        r = _pip(vpy, "install", "-q", "--no-deps", str(wheels[0]))
        if r.returncode != 0:
            raise Failure(f"pip install --no-deps {wheels[0].name} failed:\n{r.stderr[-3000:]}")

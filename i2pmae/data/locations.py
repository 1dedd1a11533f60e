"""Where data and caches live (the bottom layer of ``i2pmae.data``: readers use it, it imports none of them).

Built-in (procedural) data and every dataset cache go under one user cache
directory, never into the working directory or a user's dataset folder, so a
read-only dataset works and running a command inside a data folder writes
nothing there. The directory is ``$I2PMAE_CACHE``, else ``$XDG_CACHE_HOME/i2pmae``,
else ``~/.cache/i2pmae``. A config path may start with ``$I2PMAE_CACHE`` to point
into it (the quickstart's ``$I2PMAE_CACHE/procedural``).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

CACHE_ENV = "I2PMAE_CACHE"
_CACHE_PREFIX = re.compile(r"^\$(\{I2PMAE_CACHE\}|I2PMAE_CACHE)(?=/|\\|$)")


def user_cache_dir() -> Path:
    """``$I2PMAE_CACHE``, else ``$XDG_CACHE_HOME/i2pmae``, else ``~/.cache/i2pmae`` (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "i2pmae"


def builtin_data_root() -> Path:
    """Where the built-in procedural shapes are generated: ``<user cache>/procedural``."""
    return user_cache_dir() / "procedural"


def resolve_data_path(path: str | os.PathLike) -> Path:
    """A configured data path as a Path: a leading ``$I2PMAE_CACHE`` means :func:`user_cache_dir` (set or
    not), other ``$VARS`` and ``~`` are expanded; relative paths stay relative to the working directory."""
    text = os.fspath(path)
    text = _CACHE_PREFIX.sub(lambda _: str(user_cache_dir()), text, count=1)
    return Path(os.path.expandvars(text)).expanduser()


def dataset_cache_dir(data_folder: str | os.PathLike, name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder for caches built from ``data_folder``: ``cache_dir`` when configured, else
    ``<user cache>/datasets/<name>/<hash of the folder's absolute path>``; created, never inside the data."""
    if cache_dir:
        out = resolve_data_path(cache_dir)
    else:
        tag = hashlib.sha1(str(Path(data_folder).expanduser().resolve()).encode()).hexdigest()[:12]
        out = user_cache_dir() / "datasets" / name / tag
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RuntimeError(f"cannot create the data cache folder {out} ({exc.strerror or exc}); set "
                           f"{CACHE_ENV} to a writable folder or data.*.cache_dir") from None
    return out

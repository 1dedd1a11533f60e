"""Clear one-line errors for files a user points us at: outputs we cannot write, inputs torch cannot load.

A leaf module (it imports nothing from i2pmae) so every layer -- data readers, teachers, the
engine, the CLI -- can turn an ``OSError`` or a failed ``torch.load`` into a message that names
the path and says what to do, instead of a traceback or PyTorch's advice to unpickle untrusted code.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

__all__ = ["OutputError", "ensure_writable_dir", "output_error", "describe_os_error", "describe_load_error",
           "default_file_mode", "serializer_write_error"]

# errno -> (what happened, what to do). Other errnos keep the system's own text.
_WRITE_HINTS = {
    errno.ENOSPC: ("no space left on the device", "free some space or choose another --out"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or choose another --out"),
    errno.EROFS: ("read-only file system", "choose another --out on a writable file system"),
    errno.EACCES: ("permission denied", "choose another --out or fix the folder's permissions"),
    errno.EPERM: ("operation not permitted", "choose another --out or fix the folder's permissions"),
    errno.ENOTDIR: ("a parent of it is a file, not a folder", "choose another --out"),
    errno.EEXIST: ("it exists and is not a folder", "choose another --out"),
}


class OutputError(OSError):
    """An output file or folder could not be written (full disk, read-only, no permission).

    An OSError whose text is the whole one-line message (``except OSError`` still catches it)."""


def describe_os_error(exc: OSError, path: str | os.PathLike | None = None, what: str = "write",
                      hint: str | None = None) -> str:
    """``cannot write PATH: no space left on the device (ENOSPC); free some space or choose another --out``."""
    path = path if path is not None else (exc.filename or "?")
    return f"cannot {what} {path}: {_reason(exc, hint)}"


def _reason(exc: OSError, hint: str | None = None) -> str:
    code = exc.errno
    name = errno.errorcode.get(code, "") if code is not None else ""
    reason, todo = _WRITE_HINTS.get(code, (exc.strerror or str(exc), None))
    todo = hint or todo
    return f"{reason}{f' ({name})' if name else ''}" + (f"; {todo}" if todo else "")


def output_error(exc: OSError, path: str | os.PathLike | None = None, what: str = "write",
                 hint: str | None = None) -> OutputError:
    """An :class:`OutputError` carrying :func:`describe_os_error`'s line (``raise output_error(e, p) from e``)."""
    return OutputError(describe_os_error(exc, path, what, hint))


_OS_ERROR_RE = re.compile(r"\(os error (\d+)\)")  # Rust's io::Error text (safetensors)


def serializer_write_error(exc: BaseException, path: str | os.PathLike, needed_bytes: int | None = None,
                           hint: str | None = None) -> OutputError | None:
    """The :class:`OutputError` for a failed write by a serializer that hides the OSError, else None.

    PyTorch's zip writer turns a short write into ``RuntimeError('[enforce fail at inline_container.cc:672]
    . unexpected pos 704 vs 598')`` and safetensors into ``SafetensorError('... (os error 28)')``. For the
    former the cause is found after the fact: free space on the target's file system against the
    ``needed_bytes`` the file would take (a full disk), then the file-size limit (``ulimit -f``).
    Call it after removing the partial file, so the free space is what the write had.
    """
    if isinstance(exc, OSError):
        return output_error(exc, path, hint=hint)
    text = str(exc)
    match = _OS_ERROR_RE.search(text)
    if match:
        code = int(match.group(1))
        return output_error(OSError(code, os.strerror(code)), path, hint=hint)
    if not isinstance(exc, RuntimeError) or not any(
            s in text for s in ("inline_container", "unexpected pos", "file write failed")):
        return None
    folder = Path(path).parent
    try:
        free: int | None = shutil.disk_usage(folder).free
    except OSError:
        free = None
    need = None if needed_bytes is None else int(needed_bytes * 1.02) + (64 << 10)  # + container overhead
    space = f"{_size(free)} free on its file system" if free is not None else ""
    if free is not None and need is not None and free < need:
        todo = hint or "free some space or choose another --out"
        return OutputError(f"cannot write {path}: no space left on the device (ENOSPC): {space}, the file needs "
                           f"about {_size(need)}; {todo}")
    limit = _file_size_limit()
    if limit is not None and need is not None and limit < need:
        return OutputError(f"cannot write {path}: file too large (EFBIG): the file-size limit (ulimit -f) is "
                           f"{_size(limit)}, the file needs about {_size(need)}; raise the limit")
    detail = text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__
    where = f" although {space}" if space else ""
    return OutputError(f"cannot write {path}: the write stopped part-way{where} ({detail}): a disk quota or a "
                       f"failing device (EIO); {hint or 'check the device or choose another --out'}")


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _file_size_limit() -> int | None:
    """RLIMIT_FSIZE's soft limit in bytes, None when unlimited (or not a POSIX system)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def ensure_writable_dir(path: str | os.PathLike, what: str = "--out") -> bool:
    """Create ``path`` (with parents) and prove a file can be written in it; True when it was created here.

    Raises :class:`OutputError` naming ``what`` and the path (read-only file system, no permission,
    a file in the way...) before any work starts, rather than at the first checkpoint hours later.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path}: exists and is not a folder; choose another {what}")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if created:  # leave nothing behind
            shutil.rmtree(path, ignore_errors=True)
        hint = "free some space or choose another " + what if exc.errno in (errno.ENOSPC, errno.EDQUOT) \
            else f"choose another {what}"
        raise OutputError(f"{what} {path} is not writable: {_reason(exc, hint)}") from exc
    return created


def default_file_mode() -> int:
    """The mode ``open(..., 'w')`` would give a new file under the current umask (0644 under umask 022).

    ``tempfile.mkstemp`` always creates 0600 files; atomic writers chmod their temp file to this.
    """
    try:  # Linux >= 4.7 reports the umask without changing it (no race with other threads)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)")


def describe_load_error(path: str | os.PathLike, exc: BaseException) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, in one line, never advising weights_only=False.

    A pickle that names a Python global outside tensors and plain data (e.g. ``posix.system``) is refused
    and the global named; anything else (random bytes, truncation) is "corrupt or not a checkpoint".
    """
    text = str(exc)
    match = _GLOBAL_RE.search(text)
    if match:
        return (f"{path}: refused to load: it references the Python object {match.group(1)}, which a file of "
                "tensors and plain data never needs (it is loaded with weights_only=True so that it cannot run "
                "code); re-save only its tensors (a state dict, or .safetensors) where it was made")
    detail = ""
    for line in text.splitlines():  # torch's own cause ('Unsupported operand 86', 'invalid load key'...)
        line = line.strip()
        if line and "weights_only" not in line and "Weights only" not in line and "file an issue" not in line \
                and not line.startswith("Check the documentation"):
            detail = line
            break
    detail = detail or type(exc).__name__
    return f"{path}: corrupt or not a checkpoint ({detail[:200]})"

"""Finding and reading 2D-teacher weights, safely and never silently.

Sources, in the order :func:`i2pmae.teachers.build_teacher` tries them when ``weights`` is None:
1. for the CLIP teachers, OpenAI's original archive in ``~/.cache/clip`` (``ViT-B-16.pt``, ``RN50.pt``;
   the directory can be moved with ``$I2PMAE_CLIP_CACHE``);
2. the Hugging Face hub model timm publishes (``model.safetensors``, else ``pytorch_model.bin``, else the
   open_clip files of the CLIP repos), from
   the local cache, downloaded when online; ``HF_HUB_OFFLINE=1`` means cache only.
If none is there, :class:`TeacherWeightsError` says what was looked for and how to pass a file. Random
weights are only ever used when asked for (``weights="random"``).

Reading a file: ``.safetensors`` with safetensors; TorchScript archives (OpenAI's CLIP ``.pt``) with
``torch.jit.load`` and their ``state_dict()``; any other ``.pt/.pth/.bin/.ckpt`` with
``torch.load(weights_only=True)``. Neither path unpickles arbitrary Python: TorchScript archives hold
TorchScript IR and tensors, read by TorchScript's own restricted loader, not by Python's pickle.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import torch

__all__ = [
    "TeacherWeightsError",
    "is_torchscript_archive",
    "load_state_dict_file",
    "openai_clip_cache_dir",
    "hub_cache_dir",
    "hub_offline",
    "load_hub_state_dict",
    "weights_hint",
]

# timm's files first; the open_clip files (OpenAI names, converted like OpenAI's archive) exist in the
# CLIP repos and may be all a cache filled by open_clip holds.
HUB_FILENAMES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors",
                 "open_clip_pytorch_model.bin")


class TeacherWeightsError(FileNotFoundError):
    """The weights of a 2D teacher could not be found (offline, nothing cached, no file given)."""


def weights_hint(tiny: bool = False) -> str:
    """How to give a teacher its weights (the tail of every "weights not found" message)."""
    if tiny:
        return ("Pass a tiny-vit .safetensors file (with its .json config) with `--teacher-weights PATH` "
                "(config: `teacher.weights=PATH`), or use weights='random' for smoke tests only.")
    return ("Pass a local weights file with `--teacher-weights PATH` (config: `teacher.weights=PATH`; "
            ".safetensors, .pth/.bin state dict, or OpenAI's CLIP .pt archive), run once online to fill "
            "the Hugging Face cache, or use weights='random' for smoke tests only.")


def openai_clip_cache_dir() -> Path:
    """Where OpenAI's ``clip`` package keeps its archives (``~/.cache/clip``)."""
    return Path(os.environ.get("I2PMAE_CLIP_CACHE") or Path.home() / ".cache" / "clip").expanduser()


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time (not at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def is_torchscript_archive(path: str | os.PathLike) -> bool:
    """TorchScript archives are zip files with ``<name>/constants.pkl`` or ``<name>/code/`` entries."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state", "module"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), optionally under 'state_dict' "
                         f"or 'model'; received {type(obj).__name__}")
    if all(k.startswith("module.") for k in obj):  # saved from DistributedDataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a weights file on the CPU (see the module docstring for the formats)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"teacher weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    if is_torchscript_archive(path):
        with warnings.catch_warnings():  # torch>=2.9 flags torch.jit as deprecated; the format is still OpenAI's
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
        return {k: v for k, v in module.state_dict().items()}
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - report which file and why, whatever torch raised
        from i2pmae.io_errors import describe_load_error  # one line; never suggests weights_only=False
        raise ValueError(f"{describe_load_error(path, e)}. Use .safetensors, a plain tensor state dict, or "
                         "OpenAI's TorchScript CLIP archive.") from e
    return _unwrap(obj, path)


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be reached (None when a TCP connection opens). A quick probe, so that a
    machine without network fails in seconds instead of huggingface_hub's minute of retries."""
    import socket
    from urllib.parse import urlparse

    try:
        from huggingface_hub import constants

        url = urlparse(constants.ENDPOINT)
    except Exception:  # noqa: BLE001 - fall back on the public endpoint
        url = urlparse("https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return f"{host}:{port} is not reachable ({type(e).__name__}: {e})"


def load_hub_state_dict(hub_id: str, teacher: str, also_looked_for: list[str] | None = None
                        ) -> tuple[dict[str, torch.Tensor], str]:
    """State dict of a Hugging Face hub model: the cache first, then a download unless offline.

    Returns (state dict, path of the file read). Raises :class:`TeacherWeightsError` when no file
    could be had, naming the teacher, the hub id, the cache and the way to pass a file.
    """
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
    except ImportError as e:  # pragma: no cover - huggingface_hub is a dependency
        raise TeacherWeightsError(f"no weights for 2D teacher {teacher!r}: huggingface_hub is not installed "
                                  f"to fetch {hub_id!r}. {weights_hint()}") from e
    offline = hub_offline()
    cache = hub_cache_dir()
    errors = []
    for filename in HUB_FILENAMES:  # cache only: fast, no network
        try:
            local = hf_hub_download(repo_id=hub_id, filename=filename, cache_dir=str(cache), local_files_only=True)
        except Exception as e:  # noqa: BLE001 - not cached
            errors.append(f"{filename} not cached ({type(e).__name__})")
            continue
        return load_state_dict_file(local), local  # a cached file that cannot be read is an error
    if offline:
        where = "(HF_HUB_OFFLINE is set, no download tried)"
    elif (why := _hub_unreachable()) is not None:
        where = f"(no download possible: {why})"
    else:
        where = "or online"
        for filename in HUB_FILENAMES:
            try:
                local = hf_hub_download(repo_id=hub_id, filename=filename, cache_dir=str(cache))
            except LocalEntryNotFoundError as e:  # the connection failed mid-way: stop
                errors.append(f"{filename}: {type(e).__name__}: {e}")
                break
            except EntryNotFoundError as e:  # the repo has no such file: try the next name
                errors.append(f"{filename}: {type(e).__name__}")
            except Exception as e:  # noqa: BLE001 - network/auth errors: no point trying more names
                errors.append(f"{filename}: {type(e).__name__}: {e}")
                break
            else:
                return load_state_dict_file(local), local
    looked = (also_looked_for or []) + [
        f"the Hugging Face hub model {hub_id!r} (files {', '.join(HUB_FILENAMES)}) in the cache {cache} {where}"]
    raise TeacherWeightsError(
        f"no weights for 2D teacher {teacher!r}: looked for {' and '.join(looked)}; "
        f"none available ({'; '.join(errors)}). {weights_hint()}")

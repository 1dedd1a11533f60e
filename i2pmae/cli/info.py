"""`i2pmae info`: versions, devices and which 2D-teacher weights this machine has."""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="environment, devices and locally found teacher weights")
    p.set_defaults(func=run)


def _cached_hub_repos() -> list[str]:
    home = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache/huggingface")) / "hub")
    if not home.is_dir():
        return []
    return sorted(p.name[len("models--"):].replace("--", "/") for p in home.glob("models--*"))


def run(args: argparse.Namespace) -> int:
    import numpy
    import timm
    import torch

    import i2pmae

    print(f"i2pmae {i2pmae.__version__}  python {platform.python_version()}  torch {torch.__version__}  "
          f"timm {timm.__version__}  numpy {numpy.__version__}")
    print(f"CPU threads: {torch.get_num_threads()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            print(f"cuda:{i}: {p.name}, {p.total_memory / 2**30:.1f} GiB, bf16 {torch.cuda.is_bf16_supported()}")
    else:
        print("CUDA: not available (everything runs on the CPU)")
    try:
        from i2pmae.teachers import available_teachers
        print("2D teachers:", ", ".join(available_teachers()))
    except ImportError:
        pass
    clip_dir = Path.home() / ".cache/clip"
    found = sorted(str(p) for p in clip_dir.glob("*.pt")) if clip_dir.is_dir() else []
    print("OpenAI CLIP archives in ~/.cache/clip:", ", ".join(found) or "none")
    repos = _cached_hub_repos()
    print("Hugging Face cache:", ", ".join(repos) or "empty",
          "(offline)" if os.environ.get("HF_HUB_OFFLINE") else "")
    assets = Path(i2pmae.__file__).parent / "assets"
    bundled = sorted(p.name for p in assets.glob("*.safetensors")) if assets.is_dir() else []
    print("bundled weights:", ", ".join(bundled) or "none")
    return 0

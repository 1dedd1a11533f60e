"""`i2pmae embed`: encoder features of point-cloud files, written to .npy."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "pretrain/i2p-mae"  # the model of the authors' pre-train.pth, which stores no config

log = logging.getLogger("i2pmae")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="write encoder features (max-pooled scale-3 tokens) of point-cloud files to .npy",
                       description="Reads .npy/.npz/.txt/.xyz/.pts clouds or meshes (.ply/.obj/.off/.stl/.glb), "
                       "normalises and resamples them, and writes an (n, D) float32 array plus a .txt of file names. "
                       "Folders are searched recursively; hidden files and folders (names starting with '.') are "
                       "skipped.")
    p.add_argument("inputs", nargs="+", help="files or folders of point clouds / meshes")
    weights = p.add_mutually_exclusive_group(required=True)
    weights.add_argument("--checkpoint", help="pre-training checkpoint (ours or the authors' pre-train.pth)")
    weights.add_argument("--random-init", action="store_true",
                         help="a randomly initialised encoder (the 'no pre-training' baseline), seeded by --seed")
    p.add_argument("-c", "--config", default=None,
                   help="config whose model: section matches the checkpoint (default: the config stored in the "
                   f"checkpoint; {DEFAULT_CONFIG} for the authors' checkpoints and --random-init)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --random-init weights (default: 0)")
    p.add_argument("--out", default="features.npy", help="output .npy (default: features.npy)")
    p.add_argument("--npoints", type=int, default=None,
                   help="points per cloud (default: data.npoints of the config, or 2048)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--on-bad-file", choices=["error", "skip"], default="error",
                   help="unreadable or non-cloud files: stop (error, default) or log each and go on (skip)")
    p.add_argument("--device", help="cpu, cuda, ...")
    p.add_argument("--debug", action="store_true")
    p.set_defaults(func=run)


SUFFIXES = {".npy", ".npz", ".txt", ".xyz", ".pts", ".ply", ".obj", ".off", ".stl", ".glb"}


def _visible(path: Path, base: Path) -> bool:
    return all(not part.startswith(".") and part != "__MACOSX" for part in path.relative_to(base).parts)


def collect(inputs: list[str]) -> list[Path]:
    """Files named directly plus the visible shape files under each folder (hidden entries such as the
    library's own caches are skipped, like the folder dataset does)."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                            and _visible(p, path))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"input not found: {path}")
    if not files:
        raise ValueError(f"no point-cloud or mesh files ({', '.join(sorted(SUFFIXES))}) in {inputs}")
    return files


def checkpoint_config(checkpoint: str | Path, config: str | None) -> tuple[dict[str, Any], str]:
    """(config, where it came from): see :func:`i2pmae.api.encoder_config`."""
    from i2pmae.api import encoder_config

    return encoder_config(checkpoint, config)


def _check_args(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.npoints is not None and args.npoints < 1:
        raise ValueError(f"--npoints must be >= 1, got {args.npoints}")
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"--checkpoint {args.checkpoint}: file not found")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from i2pmae.data.errors import BadFilePolicy, BadFileError
    from i2pmae.data.folder import load_cloud
    from i2pmae.data.paths import check_output_path
    from i2pmae.engine.config import load_config
    from i2pmae.engine.logging import progress_bar, setup_logging
    from i2pmae.api import load_encoder
    from i2pmae.engine.seeding import seed_everything

    _check_args(args)
    setup_logging(None)  # skipped files and notes on stderr
    out = check_output_path(args.out, "--out")
    files = collect(args.inputs)
    if args.random_init:
        cfg, source = load_config(args.config or DEFAULT_CONFIG), str(args.config or DEFAULT_CONFIG)
        seed_everything(args.seed)
    else:
        cfg, source = checkpoint_config(args.checkpoint, args.config)
    print(f"model from {source}")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    npoints = args.npoints or int((cfg.get("data") or {}).get("npoints") or 2048)
    # the Python API's encoder: same weights, pooling and debiased BatchNorm statistics as load_encoder()
    encoder = load_encoder(None if args.random_init else args.checkpoint, config=args.config, npoints=npoints,
                           device=device)
    policy = BadFilePolicy(args.on_bad_file, context="embed")
    feats, kept = [], []
    with progress_bar(total=len(files), desc="embed", unit="file") as bar:
        for i in range(0, len(files), args.batch_size):
            clouds = []
            for f in files[i : i + args.batch_size]:
                try:
                    clouds.append(load_cloud(f, npoints))
                    kept.append(f)
                except BadFileError as err:
                    policy.handle(err)  # raises under --on-bad-file error
            if clouds:
                pts = torch.from_numpy(np.stack(clouds)).to(device)
                feats.append(encoder.forward_features(pts).cpu().numpy())
            bar.update(len(files[i : i + args.batch_size]))
    policy.report(len(files))
    if not kept:
        raise ValueError(f"none of the {len(files)} input file(s) could be read (see the skipped files above)")
    array = np.concatenate(feats).astype(np.float32)
    np.save(out, array)
    names = out.with_suffix(".txt")
    names.write_text("\n".join(str(f) for f in kept) + "\n")
    skipped = f"; skipped {len(policy.bad)} bad file(s)" if policy.bad else ""
    print(f"wrote {array.shape[0]} x {array.shape[1]} features to {out} (file names in {names}){skipped}")
    return 0


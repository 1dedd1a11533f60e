"""`i2pmae embed`: encoder features of point-cloud files, written to .npy."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="write encoder features (max-pooled scale-3 tokens) of point-cloud files to .npy",
                       description="Reads .npy/.npz/.txt/.xyz/.pts clouds or meshes (.ply/.obj/.off/.stl/.glb), "
                       "normalises and resamples them, and writes an (n, D) float32 array plus a .txt of file names.")
    p.add_argument("inputs", nargs="+", help="files or folders of point clouds / meshes")
    p.add_argument("--checkpoint", required=True, help="pre-training checkpoint (ours or the authors' pre-train.pth)")
    p.add_argument("-c", "--config", default="pretrain/i2p-mae", help="config whose model: section matches the checkpoint")
    p.add_argument("--out", default="features.npy", help="output .npy (default: features.npy)")
    p.add_argument("--npoints", type=int, default=None, help="points per cloud (default: data.npoints of the config, or 2048)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", help="cpu, cuda, ...")
    p.add_argument("--debug", action="store_true")
    p.set_defaults(func=run)


SUFFIXES = {".npy", ".npz", ".txt", ".xyz", ".pts", ".ply", ".obj", ".off", ".stl", ".glb"}


def collect(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"input not found: {path}")
    if not files:
        raise ValueError(f"no point-cloud or mesh files ({', '.join(sorted(SUFFIXES))}) in {inputs}")
    return files


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from i2pmae.data.folder import load_cloud
    from i2pmae.engine.config import load_config
    from i2pmae.engine.svm_eval import build_encoder

    cfg = load_config(args.config)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    npoints = args.npoints or int(cfg.get("data", {}).get("npoints", 2048))
    model = build_encoder(cfg["model"], args.checkpoint).to(device).eval()
    files = collect(args.inputs)
    feats = []
    with torch.no_grad():
        for i in tqdm(range(0, len(files), args.batch_size), desc="embed", unit="batch"):
            chunk = files[i : i + args.batch_size]
            pts = torch.stack([torch.as_tensor(load_cloud(f, npoints), dtype=torch.float32) for f in chunk])
            feats.append(model.extract_features(pts.to(device)).float().cpu().numpy())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    array = np.concatenate(feats).astype(np.float32)
    np.save(out, array)
    out.with_suffix(".txt").write_text("\n".join(str(f) for f in files) + "\n")
    print(f"wrote {array.shape[0]} x {array.shape[1]} features to {out} (file names in {out.with_suffix('.txt')})")
    return 0

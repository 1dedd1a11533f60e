"""`i2pmae visualize`: the supplementary's Figure 5 (masking, attention cloud, reconstruction) for one cloud."""

from __future__ import annotations

import argparse

DEFAULT_NPOINTS = 2048  # the pre-training cloud size of the paper, when the config names none


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "visualize", help="draw Figure 5 (masking, attention cloud, reconstruction) for one point cloud",
        description="Runs a pre-trained I2P-MAE on one cloud and writes OUT (input, random masking, spatial "
        "attention cloud, 2D-guided masking, reconstruction) and OUT_depthmaps.png (the depth maps with the "
        "2D teacher's attention). Model and teacher come from the checkpoint's config; the authors' "
        "pre-train.pth has none: pass --config pretrain/i2p-mae.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="pre-training checkpoint (last.pth of a run, or "
                   "the authors' pre-train.pth with --config)")
    p.add_argument("--input", metavar="FILE", help="point cloud or mesh (.npy .npz .txt .xyz .pts .ply .obj "
                   "...); default: a procedural chair")
    p.add_argument("--out", default="fig5.png", help="PNG to write (default: fig5.png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the masks and of the point sampling (default: 0)")
    p.add_argument("--npoints", type=int, help="points sampled from the input (default: the config's "
                   f"data.npoints, else {DEFAULT_NPOINTS})")
    p.add_argument("-c", "--config", help="YAML config (or shipped name) giving model: and teacher:, for a "
                   "checkpoint without one; overrides the checkpoint's config when given")
    p.add_argument("--teacher-weights", help="local weights file of the 2D teacher (teacher.weights)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    p.set_defaults(func=run)


def load_pretraining_model(checkpoint: str, config: str | None, teacher_weights: str | None, device):
    """(model, cfg): the I2PMAE of a checkpoint, built from its own config (or ``config``), weights
    loaded, its 2D teacher attached."""
    from pathlib import Path

    from i2pmae.engine.checkpoint import extract_model_state, load_checkpoint
    from i2pmae.engine.config import load_config
    from i2pmae.engine.runs import build_teacher_from_config
    from i2pmae.models import build_model

    ckpt = load_checkpoint(checkpoint)
    if config is not None:
        cfg = load_config(config)
    elif isinstance(ckpt.get("config"), dict) and "model" in ckpt["config"]:
        cfg = ckpt["config"]
    else:
        raise ValueError(f"checkpoint {checkpoint} holds no config (the authors' pre-train.pth has none); "
                         f"pass --config with the model: and teacher: it was trained with, e.g. "
                         f"--config pretrain/i2p-mae")
    model_cfg = cfg.get("model") or {}
    if model_cfg.get("name") != "I2PMAE":
        raise ValueError(f"visualize needs a pre-training checkpoint (model I2PMAE); the config of {checkpoint} "
                         f"builds {model_cfg.get('name')!r}")
    if teacher_weights is not None:
        cfg = {**cfg, "teacher": {**(cfg.get("teacher") or {}), "weights": teacher_weights}}
    teacher = build_teacher_from_config(cfg, device)
    model = build_model(model_cfg, teacher=teacher)
    state = extract_model_state(ckpt, Path(checkpoint))
    missing, unexpected = model.load_pretrained(state)
    if len(missing) == len(model.state_dict()):
        raise ValueError(f"none of the weights in {checkpoint} fit the model built from the config "
                         f"({len(unexpected)} unexpected keys); is it an I2P-MAE pre-training checkpoint?")
    return model.to(device).eval(), cfg


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    import torch

    from i2pmae.data.folder import load_cloud
    from i2pmae.viz.figure5 import visualize_cloud

    from i2pmae.data.paths import IMAGE_SUFFIXES, check_output_path

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.input is not None and not Path(args.input).is_file():
        raise FileNotFoundError(f"--input {args.input}: file not found")
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {args.checkpoint}: file not found")
    if args.npoints is not None and args.npoints < 1:
        raise ValueError(f"--npoints must be >= 1, got {args.npoints}")
    check_output_path(args.out, "--out", IMAGE_SUFFIXES)
    model, cfg = load_pretraining_model(args.checkpoint, args.config, args.teacher_weights, device)
    npoints = args.npoints or int((cfg.get("data") or {}).get("npoints") or DEFAULT_NPOINTS)
    if npoints < model.num_groups[0]:
        raise ValueError(f"--npoints {npoints} is below the model's {model.num_groups[0]} finest-scale tokens")
    if args.input is None:
        from i2pmae.data.synth import sample_shape

        source = "a procedural chair"
        cloud = sample_shape("chair", np.random.default_rng(args.seed), max(4 * npoints, 8192))
        cloud = load_cloud_array(cloud, npoints, args.seed)
    else:
        source = args.input
        cloud = load_cloud(args.input, npoints, sampling="fps", seed=args.seed, upsample=False)
    paths = visualize_cloud(model, torch.from_numpy(np.ascontiguousarray(cloud, dtype=np.float32)),
                            args.out, seed=args.seed)
    print(f"Figure 5 of {source} ({npoints} points, masking {model.masking}, seed {args.seed}):")
    for path in paths:
        print(f"  {path}")
    return 0



def load_cloud_array(points, npoints: int, seed: int = 0):
    """An (M, 3) array farthest-point subsampled to ``npoints`` and normalised, like a file would be."""
    import numpy as np

    from i2pmae.data._io import normalize, resample

    return normalize(resample(points, npoints, "fps", np.random.default_rng(seed), where="procedural chair"))

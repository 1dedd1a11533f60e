"""`i2pmae export`: a run's checkpoint as a Hugging Face folder (config.json, model.safetensors, model card)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's checkpoint as config.json + model.safetensors + README.md",
                       description="Turns RUN/last.pth (or --which best, or a .pth file) into the Hugging Face "
                       "layout that i2pmae.from_pretrained / i2pmae.load_encoder read (and push_to_hub uploads). "
                       "The model card holds the run's training config and its last logged metrics.")
    p.add_argument("run", help="run folder (holding last.pth / best.pth) or a checkpoint .pth")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--which", choices=["last", "best"], default="last", help="which checkpoint of a run folder")
    p.add_argument("-c", "--config", default=None, help="config of the model (for checkpoints that store none)")
    p.add_argument("--debug", action="store_true")
    p.set_defaults(func=run)


def last_metrics(run_dir: Path) -> dict:
    """The last line of a run's metrics.jsonl (empty when there is none)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else {}


def run(args: argparse.Namespace) -> int:
    from i2pmae.api import _load_into, encoder_config, fit_2d_width, save_pretrained
    from i2pmae.engine.runs import load_weights
    from i2pmae.models import build_model

    source = Path(args.run)
    if source.is_dir():
        ckpt = source / f"{args.which}.pth"
        if not ckpt.is_file():
            raise FileNotFoundError(f"{source}: no {args.which}.pth in this run folder")
    elif source.is_file():
        ckpt = source
    else:
        raise FileNotFoundError(f"{source}: no such run folder or checkpoint")
    cfg, where = encoder_config(ckpt, args.config)
    state = load_weights(ckpt)
    model_cfg = fit_2d_width(cfg["model"], state)
    model = build_model(model_cfg)
    _load_into(model, state, str(ckpt))
    metrics = last_metrics(ckpt.parent)
    out = save_pretrained(model, args.out, config=model_cfg, training=cfg, metrics=metrics)
    print(f"exported {ckpt} (model config from {where}) to {out}")
    return 0

"""Arguments shared by the training and evaluation commands."""

from __future__ import annotations

import argparse
import json


def add_run_args(parser: argparse.ArgumentParser, default_config: str | None = None, resumable: bool = True) -> None:
    parser.add_argument("-c", "--config", default=default_config,
                        help="YAML config file, or a shipped name such as pretrain/i2p-mae"
                        + (f" (default: {default_config})" if default_config else ""))
    parser.add_argument("--out", help="run directory (default: runs/<command>-<config>-<time>)")
    if resumable:
        parser.add_argument("--resume", metavar="RUN_DIR",
                            help="continue a stopped run from RUN_DIR/last.pth with its saved config")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available; torchrun sets it per rank)")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="override any config key, e.g. train.epochs=10 data.dataset.root=/data/ModelNet")


def overrides_with(args: argparse.Namespace, **extra: object) -> list[str]:
    """The command-line overrides plus flags that are shorthands for config keys."""
    out = list(args.overrides)
    for key, value in extra.items():
        if value is not None:  # quoted: a flag's value is literal text (a path may hold ' #', ': ', digits only)
            out.append(f"{key}={json.dumps(str(value))}")
    for item in out:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key.sub=value")
    return out


def print_result(title: str, result: dict) -> None:
    print(title)
    for key, value in result.items():
        if isinstance(value, float):  # accuracies with 2 decimals; small values (SVM C) not rounded to 0.01
            print(f"  {key}: {value:.2f}" if value == 0 or abs(value) >= 1 else f"  {key}: {value:.4g}")
        elif not isinstance(value, (list, dict)):
            print(f"  {key}: {value}")

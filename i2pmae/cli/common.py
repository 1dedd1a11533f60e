"""Arguments shared by the training and evaluation commands."""

from __future__ import annotations

import argparse
import json


class _ConfigAction(argparse.Action):
    """Stores --config and records that it was given (``args.config_given``): without it, commands that
    read a checkpoint take the model from the checkpoint's own config."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001
        setattr(namespace, self.dest, values)
        namespace.config_given = True


def add_run_args(parser: argparse.ArgumentParser, default_config: str | None = None, resumable: bool = True) -> None:
    parser.set_defaults(config_given=False)
    parser.add_argument("-c", "--config", default=default_config, action=_ConfigAction,
                        help="YAML config file, or a shipped name such as pretrain/i2p-mae"
                        + (f" (default: {default_config})" if default_config else ""))
    parser.add_argument("--out", help="run directory (default: runs/<command>-<config>-<time>)")
    if resumable:
        parser.add_argument("--resume", metavar="RUN_DIR",
                            help="continue a stopped run from RUN_DIR/last.pth with its saved config")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available; torchrun sets it "
                        "per rank)")
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


# Model keys that decide the shapes of the encoder's weights: a fine-tuning / segmentation network built
# on a pre-trained checkpoint takes these from the checkpoint's config (its head keeps the task's recipe).
ENCODER_KEYS = ("num_groups", "encoder_dims", "encoder_depths", "num_heads", "embed_widths")


def checkpoint_model_overrides(args: argparse.Namespace, checkpoint: str | None, keys: tuple[str, ...] | None = None
                               ) -> list[str]:
    """Overrides that take the model from ``checkpoint``'s own config when no ``-c`` was given.

    ``keys=None`` replaces the whole ``model:`` section (svm, evaluate: the checkpoint's network itself);
    ``keys=ENCODER_KEYS`` copies only the encoder's shape (finetune / segment --pretrained). The authors'
    files hold no config: then nothing changes. User overrides come later, so they still win.
    """
    if checkpoint is None or getattr(args, "config_given", True) or getattr(args, "resume", None):
        return []
    from i2pmae.engine.runs import model_config_from_checkpoint

    model = model_config_from_checkpoint(checkpoint)
    if not model:
        return []
    if keys is None:
        from i2pmae.engine.config import load_config

        wanted = (load_config(args.config, validate=False).get("model") or {}).get("name") if args.config else None
        if wanted is not None and model.get("name") != wanted:
            return []  # another kind of network (e.g. a pre-training checkpoint given to evaluate): its error says so
        return [f"model={json.dumps(model)}"]
    return [f"model.{k}={json.dumps(model[k])}" for k in keys if k in model]


def print_result(title: str, result: dict) -> None:
    print(title)
    for key, value in result.items():
        if isinstance(value, float):  # accuracies with 2 decimals; small values (SVM C) not rounded to 0.01
            print(f"  {key}: {value:.2f}" if value == 0 or abs(value) >= 1 else f"  {key}: {value:.4g}")
        elif not isinstance(value, (list, dict)):
            print(f"  {key}: {value}")

"""Entry point of the `i2pmae` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called
with the parsed ``argparse.Namespace``; its return value is the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules of i2pmae.cli that provide sub-commands, in the order --help lists them.
COMMAND_MODULES = [
    "demo",
    "pretrain",
    "svm",
    "finetune",
    "fewshot",
    "segment",
    "evaluate",
    "embed",
    "experiment",
    "visualize",
    "plot",
    "teacher",
    "data",
    "project",
    "info",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="i2pmae",
        description="I2P-MAE: pre-train 3D point-cloud transformers guided by frozen 2D models, and evaluate them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"i2pmae.cli.{name}")
        except ModuleNotFoundError as exc:  # a command not written yet
            if exc.name == f"i2pmae.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"i2pmae {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())

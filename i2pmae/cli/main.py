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
    "export",
    "experiment",
    "visualize",
    "plot",
    "teacher",
    "data",
    "project",
    "zeroshot",
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
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the command's own parser: "i2pmae info: error: unrecognized arguments: ..."
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        target = sub.choices.get(getattr(args, "command", None), parser) if sub is not None else parser
        target.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    failed = True
    try:
        code = args.func(args)
        failed = False
    except KeyboardInterrupt:
        print(f"i2pmae {args.command}: interrupted", file=sys.stderr)
        return 130
    except BaseException as exc:
        interrupted = _interrupted(exc)
        if interrupted is not None:
            print(f"i2pmae {args.command}: {exc}; {_resume_hint(args, exc)}", file=sys.stderr)
            return interrupted
        if getattr(args, "debug", False) or not isinstance(exc, (ValueError, OSError, RuntimeError)):
            raise  # FileNotFoundError and the io_errors' OutputError are OSError / RuntimeError subclasses
        print(f"i2pmae {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        _end_runs(failed)
    return int(code or 0)


def _interrupted(exc: BaseException) -> int | None:
    """The exit code of a training run stopped by a signal (loop.RunInterrupted), else None."""
    loop = sys.modules.get("i2pmae.engine.loop")
    if loop is not None and isinstance(exc, loop.RunInterrupted):
        return exc.exit_code
    return None


def _resume_hint(args: argparse.Namespace, exc: BaseException) -> str:
    if getattr(exc, "checkpoint", None) is None:
        return f"nothing to resume from: run the same i2pmae {args.command} command again"
    if hasattr(args, "resume"):
        return f"resume with: i2pmae {args.command} --resume {exc.run_dir}"
    runs = sys.modules.get("i2pmae.engine.runs")
    top = getattr(runs, "LAST_RUN", None) if runs is not None else None
    return f"re-run the same i2pmae {args.command} command with --out {top or exc.run_dir} to continue"


def _one_line(exc: BaseException) -> str:
    """An exception as one line: an OSError without a message of ours gets the io_errors wording."""
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError) and exc.errno is not None \
            and str(exc).startswith("["):
        from i2pmae.io_errors import describe_os_error

        import errno

        writing = exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT)
        text = describe_os_error(exc, exc.filename, "write" if writing else "access")
    else:
        text = str(exc) or type(exc).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else "; ".join(line.strip() for line in lines[:3])


def _end_runs(failed: bool) -> None:
    """Release the run folders' locks; after a failure, remove run folders this command created but never
    trained in (only if a run was started at all: the engine is not imported for other commands)."""
    runs = sys.modules.get("i2pmae.engine.runs")
    if runs is not None:
        runs.end_runs(failed)


if __name__ == "__main__":
    sys.exit(main())

"""`i2pmae zeroshot`: CLIP's zero-shot accuracy on the depth maps of a dataset (supplementary section 5)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _views(text: str) -> list[int]:
    try:
        views = [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"views must be comma-separated entries of 0, 1, 2; received {text!r}"
                                         ) from None
    if not views or len(set(views)) != len(views) or any(v not in (0, 1, 2) for v in views):
        raise argparse.ArgumentTypeError(f"views must be distinct entries of 0, 1, 2; received {text!r}")
    return views


def _option(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"dataset options are KEY=VALUE; received {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zeroshot", help="zero-shot CLIP classification of a dataset's projected depth maps",
                       description="Projects every cloud to its depth maps, embeds them with CLIP's image tower and "
                       "the class prompts with its text tower, and classifies by cosine similarity (per view and "
                       "averaged over views). Prints overall and per-class accuracy, writes results.json and "
                       "confusion.png to --out.")
    p.add_argument("--data", required=True, metavar="ROOT", help="dataset root (see `i2pmae data layout FORMAT`)")
    p.add_argument("--format", required=True, help="dataset format: modelnet40, modelnet40_h5, scanobjectnn, "
                   "shapenet55, folder, ...")
    p.add_argument("--split", default="test", help="split to classify (default: test)")
    p.add_argument("--dataset-option", "-o", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="extra dataset option, e.g. variant=obj_bg or npoints=1024 (repeatable)")
    p.add_argument("--classes", metavar="FILE", help="class names, one per line in label order, or 'ID NAME' lines "
                   "(e.g. ShapeNet synsets); default: the dataset's own names")
    p.add_argument("--views", type=_views, default=[0, 1, 2], help="views to use, e.g. 0,1,2 (default) or 0")
    p.add_argument("--prompt", action="append", metavar="TEXT", help="prompt with {} for the class name; repeat "
                   "for a prompt ensemble (default: 'a depth map of a {}.')")
    p.add_argument("--normalize", choices=["clip", "imagenet"], default="clip",
                   help="image normalisation: CLIP's own (default) or ImageNet's (as the teachers see the maps)")
    p.add_argument("--teacher-weights", metavar="PATH", help="CLIP weights with both towers: OpenAI's ViT-B-16.pt, "
                   "an open_clip checkpoint or .safetensors (default: ~/.cache/clip/ViT-B-16.pt, then the "
                   "Hugging Face cache)")
    p.add_argument("--limit", type=int, help="classify only the first N items")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")
    p.add_argument("--out", default="zeroshot", help="output folder for results.json and confusion.png "
                   "(default: zeroshot)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from i2pmae.data import build_dataset
    from i2pmae.zeroshot import DEFAULT_PROMPTS, dataset_class_names, evaluate_dataset, load_clip, plot_confusion

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1; received {args.batch_size}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1; received {args.limit}")
    options = {}
    for key, value in args.dataset_option:
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    dataset = build_dataset(dict(options, format=args.format, root=args.data), args.split)
    names = dataset_class_names(dataset, args.data, args.classes)
    prompts = args.prompt or list(DEFAULT_PROMPTS)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_clip(args.teacher_weights, device)
    report = evaluate_dataset(model, dataset, names, views=args.views, prompts=prompts, normalize=args.normalize,
                              batch_size=args.batch_size, limit=args.limit, progress=True)
    report.update(data=str(args.data), format=args.format, split=args.split, prompts=prompts,
                  normalize=args.normalize)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    png = plot_confusion(report, out / "confusion.png")

    width = max(len(n) for n in names)
    print(f"zero-shot CLIP on {report['items']} clouds of {args.format} {args.split} ({len(names)} classes), "
          f"prompts {prompts}")
    for view, acc in report["view_accuracy"].items():
        print(f"  view {view}: {acc:6.2f}%")
    print(f"  views {','.join(map(str, args.views))} averaged: {report['accuracy']:6.2f}% overall, "
          f"{report['mean_class_accuracy']:6.2f}% mean per class")
    print("per class (view-averaged):")
    for name in names:
        acc, count = report["class_accuracy"][name], report["class_counts"][name]
        print(f"  {name:<{width}}  {'-' if acc is None else f'{acc:6.2f}%'}  ({count})")
    print(f"wrote {out / 'results.json'} and {png}")
    return 0

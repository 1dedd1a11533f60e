"""What a 2D teacher knows: the project's probes (SVM with C by CV, 10-NN) on its own multi-view features.

Issue 21 asks for a stand-in teacher whose features beat random 3D features by a wide margin, otherwise
2D guidance has nothing to teach. This probes a teacher exactly as ``i2pmae experiment table1`` does
(per view, the mean of its feature map; views concatenated; :func:`i2pmae.tasks.experiment.teacher_probe`)
on a procedural draw's test split and on the unseen families of the same draw's seed stream.

    python benchmarks/teacher_probe.py --weights runs/teacher-tiny-cnn.safetensors --draw dev
    python benchmarks/teacher_probe.py --teacher tiny-vit --draw dev        # the bundled tiny-vit

``--draw dev`` (default) is ``i2pmae data synth --seed 1`` written to ``--data`` (choose with it);
``--draw test`` is the built-in draw the README's tables report (probe it once, to report, never to choose).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", default="tiny-cnn", help="teacher name (default tiny-cnn)")
    p.add_argument("--weights", default=None, help="weights file (default: the bundled asset)")
    p.add_argument("--draw", choices=("dev", "test"), default="dev")
    p.add_argument("--data", default="runs/long_sweep/data", help="--draw dev: where the dev draw lives or is made")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)

    import torch

    from i2pmae.engine.config import load_config
    from i2pmae.engine.distributed import DistInfo
    from i2pmae.tasks.experiment import ensure_synthetic_data, teacher_probe

    torch.set_num_threads(args.threads)
    overrides = [f"teacher.name={args.teacher}", "teacher.dtype=fp32"]
    if args.weights:
        overrides.append(f"teacher.weights={args.weights}")
    if args.draw == "dev":
        d = Path(args.data)
        overrides += [f"data.root={d}", f"data.dataset.root={d}/ShapeNet55-34",
                      f"data.svm.root={d}/modelnet40_ply_hdf5_2048", "synth.seed=1", "data.unseen.seed=1"]
    cfg = load_config("quickstart", overrides)
    ensure_synthetic_data(cfg)
    out = {"teacher": args.teacher, "weights": args.weights or "bundled", "draw": args.draw}
    for key, name in (("svm", "test_split"), ("unseen", "unseen_families")):
        r = teacher_probe(cfg, DistInfo(), key)
        out[name] = {k: r[k] for k in ("svm_acc", "knn_acc", "C", "C_at_edge")}
        print(name, json.dumps(out[name]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()

"""`i2pmae data real-corpus-probe` (and benchmarks/real_corpus_probe.py) on a tiny corpus of two evaluation
sets written here; CI never builds the real corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers_real_corpus import TINY_CONFIG, tiny_corpus
from helpers_scripts import load_benchmark, unload_benchmark
from i2pmae.cli.main import main


def test_probe_command_cross_validates_each_set(tmp_path: Path, capsys) -> None:
    tiny_corpus(tmp_path / "corpus")
    (tmp_path / "tiny.yaml").write_text(TINY_CONFIG)
    out = tmp_path / "probe.json"
    assert main(["data", "real-corpus-probe", "--corpus", str(tmp_path / "corpus"), "--config",
                 str(tmp_path / "tiny.yaml"), "--seeds", "0", "--folds", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "seed 0 eval-ufoai (8 objects, 2 classes): SVM" in printed and "eval-kicad: SVM" in printed
    res = json.loads(out.read_text())
    assert res["folds"] == 2 and res["checkpoint"] is None and len(res["runs"]) == 1
    for name in ("eval-ufoai", "eval-kicad"):
        assert len(res["runs"][0][name]["folds"]) == 2 and 0 <= res[name]["svm_mean"] <= 100


@pytest.mark.parametrize("extra, message", [
    ([], "no eval-ufoai, eval-kicad folder; build the corpus first with 'i2pmae data real-corpus --download'"),
    (["--folds", "1"], "--folds must be >= 2"),
    (["--sets", "small"], "5-fold cross-validation needs >= 2 classes with >= 5 objects each; found 2 class(es), the smallest with 4"),
])
def test_probe_errors(tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    corpus = tmp_path / "corpus"
    if "small" in extra:
        tiny_corpus(tmp_path / "src")
        (corpus / "small").parent.mkdir()
        (tmp_path / "src" / "eval-ufoai").rename(corpus / "small")
        (tmp_path / "tiny.yaml").write_text(TINY_CONFIG)
        extra = extra + ["--config", str(tmp_path / "tiny.yaml")]
    assert main(["data", "real-corpus-probe", "--corpus", str(corpus), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("i2pmae data real-corpus-probe: error: ") and message in err, err


def test_benchmark_script_is_the_same_probe() -> None:
    module = load_benchmark("real_corpus_probe")
    try:
        with pytest.raises(FileNotFoundError, match="build the corpus first"):
            module.main(["--corpus", "/nonexistent/real-corpus"])
    finally:
        unload_benchmark("real_corpus_probe")


def test_trained_encoder_is_encoded_once_with_the_per_fold_numbers(tmp_path: Path) -> None:
    """A trained encoder's features do not depend on the training folds: probe_set encodes the set once and
    gets what probing each fold separately gets; at random init (statistics re-estimated per fold) it cannot."""
    import torch
    from torch.utils.data import Subset

    from sklearn.model_selection import StratifiedKFold

    from i2pmae.engine.config import load_config
    from i2pmae.engine.distributed import DistInfo
    from i2pmae.tasks import svm_eval
    from i2pmae.tasks.real_corpus_probe import open_sets, probe_set

    tiny_corpus(tmp_path / "corpus", per_class=6)
    (tmp_path / "tiny.yaml").write_text(TINY_CONFIG)
    cfg = load_config(str(tmp_path / "tiny.yaml"))
    opts = dict(cfg["svm"])
    ds = open_sets(tmp_path / "corpus", ["eval-ufoai"], 128, 2)["eval-ufoai"]
    torch.manual_seed(0)
    model = svm_eval.build_encoder(cfg["model"], None)
    assert svm_eval.features_need_train_set(model, opts)  # random init: re-estimated per fold
    with pytest.raises(ValueError, match="use probe_encoder"):
        svm_eval.encode_with_statistics(model, ds, DistInfo(), opts)
    with torch.no_grad():  # as after pre-training: every BatchNorm saw batches
        for bn in svm_eval._batchnorms(model):
            bn.num_batches_tracked.fill_(500)
            bn.running_mean.normal_(0, 0.1)
            bn.running_var.uniform_(0.5, 2.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert not svm_eval.features_need_train_set(model, opts)
    assert svm_eval.features_need_train_set(model, dict(opts, bn_statistics="recalibrated"))
    got = probe_set(model, ds, opts, 2, seed=0)
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=0).split(ds.labels(), ds.labels())
    want = [svm_eval.probe_encoder(model, Subset(ds, tr.tolist()), Subset(ds, te.tolist()), opts, DistInfo())
            for tr, te in folds]
    assert [f["svm"] for f in got["folds"]] == [r["svm_acc"] for r in want]
    assert [f["knn"] for f in got["folds"]] == [r["knn_acc"] for r in want]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the model is unchanged

"""benchmarks/teacher_probe.py --draw real-corpus: the 2D teacher's own multi-view features on the real
corpus's left-out sets, probed on the same stratified folds as the 3D encoders (issue 23), on a tiny corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers_real_corpus import tiny_corpus
from helpers_scripts import load_benchmark, unload_benchmark


@pytest.fixture(scope="module")
def probe():
    yield load_benchmark("teacher_probe")
    unload_benchmark("teacher_probe")


def test_teacher_probe_on_real_corpus_sets(probe, tmp_path):
    corpus = tmp_path / "corpus"
    tiny_corpus(corpus, per_class=6, points=1024)
    out = probe.main(["--draw", "real-corpus", "--corpus", str(corpus), "--folds", "2",
                      "--json", str(tmp_path / "t.json")])
    assert json.loads((tmp_path / "t.json").read_text()) == out
    for name in ("eval-ufoai", "eval-kicad"):
        r = out[name]
        assert r["objects"] == 12 and r["folds"] == 2 and len(r["C"]) == 2
        assert 0 <= r["svm_mean"] <= 100 and 0 <= r["knn_mean"] <= 100 and np.isfinite(r["svm_std"])
    with pytest.raises(FileNotFoundError, match="no eval-other folder"):
        probe.main(["--draw", "real-corpus", "--corpus", str(corpus), "--sets", "eval-other"])

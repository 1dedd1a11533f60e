import numpy as np
import pytest

from i2pmae.cli.main import main
from i2pmae.cli.project import builtin_chair, load_cloud

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_project_command_builtin_shape(tmp_path, capsys):
    out = tmp_path / "sub" / "depth.png"
    assert main(["project", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert "3 view(s)" in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".npy", ".txt", ".xyz"])
def test_project_command_reads_files(tmp_path, suffix):
    cloud = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)  # extra columns ignored
    path = tmp_path / f"cloud{suffix}"
    if suffix == ".npy":
        np.save(path, cloud)
    else:
        np.savetxt(path, cloud, delimiter="," if suffix == ".txt" else " ")
    np.testing.assert_allclose(load_cloud(str(path)), cloud[:, :3], rtol=1e-6)
    out = tmp_path / "d.png"
    assert main(["project", "--input", str(path), "--out", str(out), "--views", "2", "0",
                 "--image-size", "64"]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_project_command_bad_files(tmp_path, capsys):
    assert main(["project", "--input", str(tmp_path / "missing.npy"), "--out", str(tmp_path / "x.png")]) == 1
    assert "missing.npy" in capsys.readouterr().err
    bad = tmp_path / "flat.npy"
    np.save(bad, np.zeros((5, 2)))
    assert main(["project", "--input", str(bad), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "flat.npy" in err and "(N, >=3)" in err


def test_builtin_chair_shape():
    chair = builtin_chair()
    assert chair.shape == (2048, 3) and chair.dtype == np.float32
    assert np.isfinite(chair).all() and np.ptp(chair, axis=0).min() > 0.5

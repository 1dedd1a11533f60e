"""A checkpoint write on a really full file system (issue 20): PyTorch's zip writer raises a RuntimeError
('[enforce fail at inline_container.cc] . unexpected pos ...'), not OSError(ENOSPC); the message must still
say the disk is full, name the file, and the previous last.pth must survive. Real limits, not simulated
errors: a 2 MiB tmpfs (mounting needs root, as in CI) and the kernel's file-size limit (RLIMIT_FSIZE)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from i2pmae.engine.checkpoint import export_safetensors, load_checkpoint, save_checkpoint
from i2pmae.io_errors import OutputError

# 300k float32 = 1.2 MB each: the first fits in 2 MiB, a second beside it (the atomic write's temp file) does not.
OLD = {"model": {"w": torch.zeros(300_000)}, "loop": {"global_step": 1}}
NEW = {"model": {"w": torch.ones(300_000)}, "loop": {"global_step": 2}}


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; test_checkpoint_over_the_file_size_limit covers a real limit")
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    assert proc.returncode == 0, f"running as root but cannot mount a tmpfs: {proc.stderr.strip()}"
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_checkpoint_on_a_full_file_system_says_so_and_keeps_the_previous(small_fs):
    last = small_fs / "last.pth"
    save_checkpoint(last, OLD)
    with pytest.raises(OutputError) as err:
        save_checkpoint(last, NEW)
    msg = str(err.value)
    assert msg.startswith(f"cannot write {last}: no space left on the device (ENOSPC): ")
    assert "free on its file system, the file needs about 1.2 MiB; free some space or choose another --out" in msg
    assert "enforce fail" not in msg and "\n" not in msg
    assert isinstance(err.value.__cause__, RuntimeError)  # what torch raised: no OSError to go by
    kept = load_checkpoint(last)
    assert kept["loop"]["global_step"] == 1 and torch.equal(kept["model"]["w"], OLD["model"]["w"])
    assert sorted(p.name for p in small_fs.iterdir()) == ["last.pth"]  # the temp file is gone

    with pytest.raises(OutputError, match=r"m\.safetensors: no space left on the device \(ENOSPC\)"):
        export_safetensors(NEW["model"], small_fs / "m.safetensors")  # safetensors says "(os error 28)"
    assert sorted(p.name for p in small_fs.iterdir()) == ["last.pth"]


def test_checkpoint_over_the_file_size_limit(tmp_path):
    """The kernel refuses writes past RLIMIT_FSIZE (EFBIG, SIGXFSZ ignored): the same RuntimeError from torch."""
    script = textwrap.dedent(f"""
        import json, resource, signal, sys, torch
        from i2pmae.engine.checkpoint import save_checkpoint
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        save_checkpoint({str(tmp_path / "last.pth")!r}, {{"w": torch.zeros(300_000), "step": 1}})
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        try:
            save_checkpoint({str(tmp_path / "last.pth")!r}, {{"w": torch.ones(300_000), "step": 2}})
        except Exception as exc:
            print(json.dumps({{"type": type(exc).__name__, "msg": str(exc), "cause": type(exc.__cause__).__name__}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["type"] == "OutputError" and out["cause"] == "RuntimeError"
    assert out["msg"] == (f"cannot write {tmp_path / 'last.pth'}: file too large (EFBIG): the file-size limit "
                          "(ulimit -f) is 976.6 KiB, the file needs about 1.2 MiB; raise the limit")
    assert load_checkpoint(tmp_path / "last.pth")["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pth"]


def test_a_short_write_with_room_to_spare_is_not_called_a_full_disk(tmp_path, monkeypatch):
    def short_write(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(torch, "save", short_write)
    with pytest.raises(OutputError) as err:
        save_checkpoint(tmp_path / "last.pth", {"w": torch.zeros(10)})
    msg = str(err.value)
    assert msg.startswith(f"cannot write {tmp_path / 'last.pth'}: the write stopped part-way although ")
    assert "unexpected pos 704 vs 598" in msg and "no space left" not in msg
    assert not list(tmp_path.iterdir())

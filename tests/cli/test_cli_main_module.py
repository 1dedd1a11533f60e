"""`python -m i2pmae`: runs the command as __main__, and nothing when a spawned worker re-imports it."""

import runpy
import subprocess
import sys

import pytest


def test_spawned_worker_reimport_runs_nothing(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["i2pmae", "--help"])
    namespace = runpy.run_module("i2pmae", run_name="__mp_main__")  # what spawn does; must not exit
    assert callable(namespace["main"])
    assert capsys.readouterr().out == ""  # the command did not run


def test_main_module_runs_the_command(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["i2pmae", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("i2pmae", run_name="__main__")
    assert exit_info.value.code == 0
    assert "pretrain" in capsys.readouterr().out


def test_python_dash_m_exit_code():
    done = subprocess.run([sys.executable, "-m", "i2pmae", "no-such-command"], capture_output=True, text=True)
    assert done.returncode != 0
    assert "no-such-command" in done.stderr

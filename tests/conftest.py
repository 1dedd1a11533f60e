"""Fixtures for the whole suite."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_user_cache(tmp_path_factory):
    """Dataset caches and built-in data go to $I2PMAE_CACHE: point it at a temporary folder so tests never
    write into ~/.cache (worker processes inherit it). Tests that need their own set it with monkeypatch."""
    before = os.environ.get("I2PMAE_CACHE")
    os.environ["I2PMAE_CACHE"] = str(tmp_path_factory.mktemp("i2pmae-cache"))
    yield
    if before is None:
        os.environ.pop("I2PMAE_CACHE", None)
    else:
        os.environ["I2PMAE_CACHE"] = before

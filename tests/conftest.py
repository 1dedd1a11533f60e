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


@pytest.fixture(autouse=True)
def reset_i2pmae_logger():
    """Commands run in-process point the ``i2pmae`` logger at their run's log.txt and the test's captured
    stderr, and stop it propagating; afterwards close those handlers and let records propagate again, so
    every test (and ``caplog``) starts from the same logging state whatever ran before it."""
    import logging

    yield
    logger = logging.getLogger("i2pmae")
    for handler in list(logger.handlers):
        if getattr(handler, "_i2pmae_handler", False):  # the tag i2pmae.engine.logging.setup_logging sets
            logger.removeHandler(handler)
            handler.close()
    logger.propagate = True
    logger.setLevel(logging.NOTSET)

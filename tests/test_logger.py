"""utils/logger.py: quiet() silences a block and gives the caller its logging back."""

from __future__ import annotations

import logging

from utils.logger import LOGGER, quiet


def test_quiet_restores_the_level_it_found_also_after_an_error(log_lines):
    before = LOGGER.level
    try:
        with quiet():
            LOGGER.info("hidden")
            LOGGER.warning("shown")
            raise RuntimeError
    except RuntimeError:
        pass
    with quiet(False):
        LOGGER.info("kept")
    LOGGER.info("after")
    assert LOGGER.level == before == logging.INFO and log_lines == ["shown", "kept", "after"]

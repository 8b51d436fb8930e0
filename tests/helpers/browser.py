"""Where the browser tests find Debian's Chromium, its flags, and the marks that skip without it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

BROWSER_MARKS = [pytest.mark.slow, pytest.mark.browser,
                 pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)")]


def needs_browser(test):
    """Mark a test as ``BROWSER_MARKS`` does a module: slow, browser, skipped without Chromium."""
    for mark in reversed(BROWSER_MARKS):
        test = mark(test)
    return test

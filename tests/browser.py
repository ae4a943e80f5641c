"""Headless Chromium for the browser tests (Debian's ``chromium`` and ``chromium-driver``, driven by Selenium).

``make test`` installs both when missing; without them the browser tests are skipped with the command to run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs chromium and chromedriver (apt-get install -y chromium chromium-driver; `make test` installs them)",
)


@contextmanager
def chromium(width: int, height: int, implicit_wait: float = 5) -> Iterator[Any]:
    """A headless Chromium window of ``width`` x ``height``, quit on leaving."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(implicit_wait)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot_folder(variable: str, tmp_path: Path) -> Path:
    """Where a test's screenshots go: the folder named by the environment ``variable``, else the test's own."""
    folder = Path(os.environ.get(variable) or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder

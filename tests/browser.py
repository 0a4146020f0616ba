"""Headless Chromium for tests and benchmarks, through Selenium and the system's chromedriver.

    start_chromium(javascript=True) -> WebDriver   raises BrowserUnavailable with how to install
    browser = chromium_fixture()                   a module-scoped pytest fixture; skips if absent
    save_full_page(driver, path)                   a screenshot of the whole page, not the viewport

The browser and driver are the distribution's (/usr/bin/chromium, /usr/bin/chromedriver), given
to Selenium by path so that Selenium Manager never tries to download one (tests run offline).
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Read at import: the tests' autouse fixture removes every GXLLM_* variable before each test.
ARTIFACTS = Path(os.environ.get("GXLLM_TEST_ARTIFACTS") or REPO / "test-artifacts")

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--window-size=1280,900",
)


class BrowserUnavailable(Exception):
    pass


def _executable(*names: str) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


def start_chromium(*, javascript: bool = True):
    """A headless Chromium WebDriver; the caller quits it."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise BrowserUnavailable("no selenium: pip install -e '.[dev]'") from None
    chromium = _executable("chromium", "chromium-browser", "google-chrome")
    chromedriver = _executable("chromedriver")
    if chromium is None or chromedriver is None:
        raise BrowserUnavailable("no chromium: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    return webdriver.Chrome(options=options, service=Service(chromedriver))


def chromium_fixture(*, javascript: bool = True):
    """A module-scoped pytest fixture: one headless Chromium for the module's tests, or a skip
    that says how to install it."""

    @pytest.fixture(scope="module")
    def driver():
        try:
            started = start_chromium(javascript=javascript)
        except BrowserUnavailable as missing:
            pytest.skip(str(missing))
        yield started
        started.quit()

    return driver


# Chromium skips painting `content-visibility: auto` parts outside the viewport, even in a capture.
_RENDER_EVERYTHING = """
for (const e of document.querySelectorAll('*'))
  if (getComputedStyle(e).contentVisibility === 'auto') e.style.contentVisibility = 'visible';
"""


def save_full_page(driver, path: Path) -> Path:
    """The whole page as a PNG (Chromium's DevTools capture, beyond the viewport)."""
    driver.execute_script(_RENDER_EVERYTHING)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path

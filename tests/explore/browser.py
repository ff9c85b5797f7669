"""Debian's chromium, headless, driven by Selenium with Debian's matching chromedriver.

`find_browser()` says why the browser tests cannot run (None when they can); `open_browser()` starts
a fresh headless chromium that logs the page's console, so a test can fail on any console error.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,800", "--force-device-scale-factor=1", "--allow-file-access-from-files")


def _first(paths):
    return next((p for p in paths if Path(p).exists()), None)


def find_browser() -> str | None:
    """None if the browser tests can run here, else the reason they cannot."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if _first(CHROMIUM) is None:
        return "no chromium (apt-get install chromium chromium-driver; .ci/run does it)"
    if _first(DRIVER) is None:
        return "no chromedriver (apt-get install chromium-driver)"
    return None


class Browser:
    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="convscope-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = _first(CHROMIUM)
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(_first(DRIVER)))
        # the viewport itself is 1280x800 (a window of that size would lose its top to the toolbar)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})

    def open(self, path) -> None:
        self.driver.get(Path(path).resolve().as_uri())

    def console_errors(self) -> list:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

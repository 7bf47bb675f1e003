"""Headless Chromium from Debian (packages chromium and chromium-driver, see
hack/host-packages.txt) driven by Selenium: for the web view's browser test, its screenshots
and its grid measurement."""

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = ("/usr/bin/chromium", "chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")


def _find(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        if Path(candidate).is_file():
            return candidate
        found = shutil.which(candidate)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why no browser can start here, or None."""
    if _find(CHROMIUM) is None or _find(CHROMEDRIVER) is None:
        return "chromium and chromium-driver are not installed: run hack/install-host-packages.sh"
    return None


def chromium(width: int = 1400, height: int = 900) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = str(_find(CHROMIUM))
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container or CI: Chromium's sandbox needs user namespaces
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    # Selenium Manager would look for a driver on the network: name Debian's.
    return webdriver.Chrome(options=options, service=Service(executable_path=_find(CHROMEDRIVER)))

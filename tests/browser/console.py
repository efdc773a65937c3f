"""What the browser tests do to the console: a headless Chromium (Debian's, through its
own chromedriver, so Selenium Manager never looks for a browser on the network),
signing in through the local IAP stand-in, screenshots for docs/console.md, and
axe-core's accessibility check of the page the browser shows."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
# One window size everywhere, so a page's screenshot changes only when the page does.
WINDOW = (1280, 900)
# docs/console/ is what docs/console.md shows: written only when asked
# (`make screenshots`), so a test run leaves the work tree as it was.
DOCS_SHOTS = ROOT / "docs" / "console"
RUN_SHOTS = ROOT / "build" / "console-screenshots"
FLAGS = (
    "--headless=new",
    # The suite runs as root in CI, where Chromium's own sandbox cannot start.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Nothing but the console: no update checks, component downloads or sync.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
)
BLOCKING = ("serious", "critical")


def missing() -> str | None:
    """Why the browser tests cannot run on this machine, or None."""
    for path, what in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing: `make install` installs Debian's {what}"
    if not AXE.exists():
        return f"{AXE.relative_to(ROOT)} is missing: `make install` runs npm ci in tests/browser"
    return None


class ConsoleDriver(webdriver.Chrome):
    """Chromium pointed at one console: `open("/orgs/x")` is relative to it."""

    def __init__(self, console_url: str, profile: Path) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
        options.add_argument(f"--user-data-dir={profile}")
        # The page's console (CSP violations, script errors) for console_errors().
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        super().__init__(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        # The page's own size, not the window's less its frame: the same on every machine.
        width, height = WINDOW
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        self.console_url = console_url.rstrip("/")
        self.set_script_timeout(60)
        self.set_page_load_timeout(60)

    def open(self, path: str) -> None:
        self.get(self.console_url + path)

    @property
    def path(self) -> str:
        """The path (and query) the browser shows, without the console's origin."""
        parts = urlsplit(self.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def text(self) -> str:
        return str(self.find_element(By.TAG_NAME, "body").text)

    def links(self) -> list[WebElement]:
        return list(self.find_elements(By.CSS_SELECTOR, "a[href]"))


def new_driver(console_url: str) -> ConsoleDriver:
    return ConsoleDriver(console_url, Path(tempfile.mkdtemp(prefix="assay-chromium-")))


def sign_in(driver: ConsoleDriver, email: str) -> None:
    """Signs in through the IAP stand-in (devstack/identity.py), which lands on `/`."""
    driver.open(f"/_dev/sign-in?email={quote(email, safe='')}")


def screenshot(driver: ConsoleDriver, name: str) -> Path:
    """The page as shown, as <name>.png: in docs/console/ under `make screenshots`,
    else in build/console-screenshots/ (a run must not dirty the docs)."""
    folder = DOCS_SHOTS if os.environ.get("ASSAY_UPDATE_SCREENSHOTS") else RUN_SHOTS
    folder.mkdir(parents=True, exist_ok=True)
    # Fonts still loading would make two runs' pictures differ.
    driver.execute_async_script("document.fonts.ready.then(() => arguments[0]())")
    path = folder / f"{name}.png"
    if not driver.save_screenshot(str(path)):
        raise AssertionError(f"Chromium took no screenshot of {driver.current_url}")
    return path


_RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]}).then(
  (result) => done({violations: result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map((n) => n.target.join(" ")),
  }))}),
  (error) => done({error: String(error)}),
);
"""


def axe_violations(driver: ConsoleDriver) -> list[dict[str, Any]]:
    """axe-core's violations on the current page (injected through WebDriver, which the
    page's Content-Security-Policy does not govern)."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE.read_text())
    answer: dict[str, Any] = driver.execute_async_script(_RUN_AXE)
    if "error" in answer:
        raise AssertionError(f"axe-core failed on {driver.current_url}: {answer['error']}")
    return list(answer["violations"])


def assert_accessible(driver: ConsoleDriver, page_name: str) -> None:
    """Fails on every violation axe-core rates serious or critical."""
    found = [v for v in axe_violations(driver) if v["impact"] in BLOCKING]
    lines = [
        f"  {v['id']} ({v['impact']}): {v['help']}; at {', '.join(v['targets'][:5])}" for v in found
    ]
    assert not found, f"{page_name} ({driver.path}) is not accessible:\n" + "\n".join(lines)


def console_errors(driver: ConsoleDriver) -> list[str]:
    """The page's console errors since the last call: a script that failed, or
    something the Content-Security-Policy refused. The browser's own guess at
    /favicon.ico is not the page's doing."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "/favicon.ico " not in entry["message"]
    ]

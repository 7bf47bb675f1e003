"""`make screenshots`: the README's pictures of the web view (docs/screenshots/*.png), taken
with headless Chromium (Debian's, through Selenium) of the web view serving sample DAGs and
runs (bench/web_sample.py): no cluster needed, the same pictures every time."""

import sys
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from bench import browser
from bench.web_sample import SampleServer, runs_of, sample_store

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
FAILED_RUN = runs_of("events-daily", 14, 10)[8]["metadata"]["name"]
PAGES = [
    ("dags", "/", 1400, 200),
    ("grid", "/dags/etl/events-daily?runs=14", 1000, 300),
    ("graph", f"/dags/etl/events-daily/graph?run={FAILED_RUN}", 1000, 300),
    ("run", f"/runs/etl/{FAILED_RUN}", 1300, 300),
    ("log", f"/runs/etl/{FAILED_RUN}/tasks/load-03/tries/1/log", 1000, 200),
    ("backfills", "/backfills", 1300, 200),
]


def main() -> int:
    why = browser.missing()
    if why:
        print(f"error: {why}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with SampleServer(sample_store(), actions=False) as server:
        driver = browser.chromium()
        try:
            for name, path, width, height in PAGES:
                driver.set_window_size(width, height)
                driver.get(server.url + path)
                WebDriverWait(driver, 10).until(
                    expected_conditions.presence_of_element_located((By.ID, "main"))
                )
                # As tall as the page, at least `height`: the whole page in the picture.
                content, chrome = driver.execute_script(
                    "return [document.documentElement.scrollHeight,"
                    " window.outerHeight - window.innerHeight];"
                )
                driver.set_window_size(width, max(height, content + chrome + 16))
                target = OUT / f"{name}.png"
                driver.save_screenshot(str(target))
                print(f"wrote {target.relative_to(OUT.parents[1])}")
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How fast a run's report.html opens and filters in headless Chromium (prints figures).

    python bench/report_bench.py [reports/latest/report.html] [--rounds 5]

Needs Debian's chromium (/usr/bin/chromium) and playwright (pip install -e .[test]). Prints,
per round: the time to a usable page (the requirement list drawn), the number of DOM elements
then, the time of a verdict filter click, of a text search (it waits 120 ms for typing to stop)
and of drawing the operations table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", default="reports/latest/report.html")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    page_path = Path(args.page).resolve()
    if not page_path.is_file():
        print(f"report_bench: no such report: {page_path}", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"report_bench: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    figures: dict[str, list[float]] = {"open": [], "search": [], "filter": [], "operations": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for _ in range(args.rounds):
            t = time.perf_counter()
            page.goto(page_path.as_uri())
            page.wait_for_selector(".req")
            figures["open"].append(time.perf_counter() - t)
            elements = page.locator("*").count()
            before = page.inner_text("#shown")
            t = time.perf_counter()
            page.fill("#f-text", "FUZZ")
            while page.inner_text("#shown") == before and time.perf_counter() - t < 5:
                pass
            figures["search"].append(time.perf_counter() - t)
            t = time.perf_counter()
            page.click("#f-notpass")
            page.locator("#shown").inner_text()
            figures["filter"].append(time.perf_counter() - t)
            t = time.perf_counter()
            page.click("#ops > summary")
            page.locator("table.ops").wait_for()
            figures["operations"].append(time.perf_counter() - t)
        browser.close()
    size = page_path.stat().st_size
    print(f"report.html {size / 1e6:.2f} MB, {elements} DOM elements when opened, "
          f"{args.rounds} rounds (median / max ms):")
    for name, values in figures.items():
        print(f"  {name:<11} {1000 * statistics.median(values):7.0f} {1000 * max(values):7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

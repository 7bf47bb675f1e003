"""How fast the web view renders a grid of 25 runs x 20 tasks (README "Web view"):
`python -m bench.web_grid`. Server side: the grid model and its HTML from a filled Store,
median of 50. In the browser (headless Chromium, when installed): from navigation start
to the load event, median of 10 loads."""

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime

from bench.web_sample import SampleServer, dag_body, runs_of
from kubedag.views.grid import build_grid
from kubedag.web import pages
from kubedag.web.store import Store

NAMESPACE, DAG = "etl", "wide"


def filled_store(runs: int, tasks: int) -> Store:
    store = Store()
    store.put("DAG", dag_body(DAG, tasks, NAMESPACE))
    for body in runs_of(DAG, runs, tasks, NAMESPACE):
        store.put("DagRun", body)
    store.synced.update({"DAG", "DagRun", "Backfill"})
    return store


def server_seconds(store: Store, runs: int, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        grid = build_grid(
            NAMESPACE,
            DAG,
            store.dag(NAMESPACE, DAG),
            store.all_runs(NAMESPACE, DAG),
            runs,
            datetime.now(UTC),
        )
        pages.render("grid.html", grid=grid, namespace=NAMESPACE, dag_name=DAG, paused=False)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def browser_seconds(store: Store, runs: int, repeats: int) -> float | None:
    from bench import browser

    if browser.missing():
        return None
    with SampleServer(store) as server:
        driver = browser.chromium()
        try:
            timings = []
            for _ in range(repeats):
                driver.get(f"{server.url}/dags/{NAMESPACE}/{DAG}?runs={runs}")
                cells = driver.execute_script("return document.querySelectorAll('a.cell').length")
                assert cells == runs * len(store.dag(NAMESPACE, DAG).spec.tasks)  # type: ignore[union-attr]
                navigation = driver.execute_script(
                    "const n = performance.getEntriesByType('navigation')[0];"
                    " return n.loadEventEnd - n.startTime;"
                )
                timings.append(float(navigation) / 1000)
            return statistics.median(timings)
        finally:
            driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    store = filled_store(args.runs, args.tasks)
    server = server_seconds(store, args.runs, 50)
    print(f"grid {args.runs} runs x {args.tasks} tasks: server render {server * 1000:.1f} ms")
    loaded = browser_seconds(store, args.runs, 10)
    if loaded is None:
        print("browser: chromium not installed (hack/install-host-packages.sh)")
    else:
        print(f"grid {args.runs} runs x {args.tasks} tasks: browser load {loaded * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

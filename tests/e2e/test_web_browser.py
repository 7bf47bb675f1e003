"""The web view in a real browser: headless Chromium (Debian's, driven by Selenium) against
the chart's web Deployment on the local cluster, through `kubectl port-forward`. The demo DAG
(examples/hello-dag.yaml as `make demo` applies it) runs twice; a manual run of it fails
one task. The grid shows the runs in Airflow's colours, a new run appears in the open grid
without a reload, a log opens, the failed task is visible."""

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import yaml
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bench import browser
from devcluster import localcluster
from tests.e2e.kube import RELEASE_NAMESPACE, REPO, Kubectl, wait_for

GREEN, RED = (0, 128, 0), (255, 0, 0)  # Airflow's success and failed
PSS_ENFORCE = "pod-security.kubernetes.io/enforce"


def demo_dag(start: str) -> dict[str, Any]:
    """The demo DAG as `make demo` applies it (two days of catchup, podGC Never), with one
    change: transform fails when a run's conf says so (and retries are off, to fail now)."""
    dag: dict[str, Any] = yaml.safe_load((REPO / "examples/hello-dag.yaml").read_text())
    spec = dag["spec"]
    spec.update(startDate=start, podGC="Never")
    spec["params"]["fail"] = False
    spec["defaults"]["retries"] = 0
    transform = next(t for t in spec["tasks"] if t["name"] == "transform")
    transform["args"] = [
        'print("transform {{ params.table }} for {{ ds }}"); '
        'raise SystemExit(1 if "{{ params.fail }}" == "True" else 0)'
    ]
    return dag


@pytest.fixture
def web_url(kubedag: None, kubectl: Kubectl) -> Iterator[str]:
    """The chart's web Service, port-forwarded to a free local port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    forward = subprocess.Popen(
        [*kubectl.base, "port-forward", "-n", RELEASE_NAMESPACE, "svc/kubedag-web", f"{port}:80"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_for(ready, "the web view through port-forward", 60)
        yield url
    finally:
        forward.terminate()
        forward.wait(10)


@pytest.fixture
def chromium(local_cluster: localcluster.Cluster) -> Iterator[WebDriver]:
    # The local cluster installs the host packages when it starts; a cluster that was
    # already up did not, so make sure of Chromium here.
    localcluster.ensure_host_packages()
    why = browser.missing()
    if why:
        pytest.fail(why)
    driver = browser.chromium()
    try:
        yield driver
    finally:
        driver.quit()


def rgb(css: str) -> tuple[int, ...]:
    """A CSS colour as (r, g, b): Chromium says `rgba(0, 128, 0, 1)`."""
    return tuple(int(part) for part in re.findall(r"\d+", css)[:3])


def run_states(kubectl: Kubectl, ns: str) -> dict[str, str]:
    items = kubectl.json("get", "dagruns", "-n", ns, "-l", "kubedag.io/dag=hello")["items"]
    return {r["metadata"]["name"]: (r.get("status") or {}).get("state", "") for r in items}


def grid(driver: WebDriver) -> tuple[list[str], dict[tuple[str, str], tuple[tuple[int, ...], str]]]:
    """The grid's runs (left to right) and cells ((run, task) -> (colour, title)), read in one
    script: the page may redraw itself (a live update) between two WebDriver calls."""
    runs, cells = driver.execute_script(
        "const bars = [...document.querySelectorAll('#grid a.bar')].map(a => a.dataset.run);"
        "const cells = [...document.querySelectorAll('#grid a.cell')].map(a =>"
        " [a.dataset.run, a.dataset.task, getComputedStyle(a).backgroundColor, a.title]);"
        "return [bars, cells];"
    )
    return runs, {(run, task): (rgb(css), title) for run, task, css, title in cells}


def click(driver: WebDriver, selector: str) -> None:
    """Click what `selector` finds, again if a live update replaced it meanwhile."""
    WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.CSS_SELECTOR, selector).click() is None
    )


def test_the_grid_in_a_browser(
    web_url: str, chromium: WebDriver, kubectl: Kubectl, request: pytest.FixtureRequest
) -> None:
    ns = "e2e-web-browser"
    kubectl("create", "namespace", ns)
    request.addfinalizer(lambda: kubectl("delete", "namespace", ns, "--wait=false"))
    kubectl("label", "namespace", ns, f"{PSS_ENFORCE}=restricted")
    start = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%d")
    kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(demo_dag(start)))
    failing = subprocess.run(
        [str(REPO / ".venv/bin/kubedag"), "trigger", "hello", "-n", ns, "--kubeconfig",
         str(kubectl.kubeconfig), "--conf", '{"fail": true}'],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    failed_run = re.search(r"dagrun.kubedag.io/(\S+) created", failing)
    assert failed_run is not None, failing
    failed_run_name = failed_run[1]

    def all_finished() -> dict[str, str] | None:
        states = run_states(kubectl, ns)
        done = len(states) == 3 and all(s in ("success", "failed") for s in states.values())
        return states if done else None

    print(f"web view at {web_url}; failing run {failed_run_name}; waiting for the runs")
    states = wait_for(all_finished, "the demo DAG's three runs finished", 240)
    print(f"runs finished: {states}")
    assert states.pop(failed_run_name) == "failed"
    assert set(states.values()) == {"success"}

    # The grid: three columns, newest right; Airflow's colours; the failed task visible.
    chromium.get(f"{web_url}/dags/{ns}/hello")
    runs_shown, cells = grid(chromium)
    assert sorted(runs_shown) == sorted([*states, failed_run_name])
    assert runs_shown[-1] == failed_run_name  # manual run of now: the newest logical date
    for run in states:
        for task in ("extract", "transform", "report"):
            assert cells[(run, task)][0] == GREEN, (run, task)
    failed_colour, failed_title = cells[(failed_run_name, "transform")]
    assert failed_colour == RED and "transform: failed" in failed_title

    # Live: a run created while the grid is open appears without a reload.
    marker = chromium.execute_script("window.kubedagMarker = 1; return window.kubedagMarker;")
    created = time.monotonic()
    kubectl("create", "-n", ns, "-f", "-", stdin=yaml.safe_dump(
        {"apiVersion": "kubedag.io/v1alpha1", "kind": "DagRun",
         "metadata": {"name": "hello-live"}, "spec": {"dagName": "hello"}}))  # fmt: skip
    WebDriverWait(chromium, 10, poll_frequency=0.1).until(lambda d: "hello-live" in grid(d)[0])
    print(f"new run in the open grid after {time.monotonic() - created:.2f}s (kubectl included)")
    assert chromium.execute_script("return window.kubedagMarker;") == marker  # no reload

    # The failed task's run: its message, then a log opens.
    click(chromium, f'a.cell[data-run="{failed_run_name}"][data-task="transform"]')
    WebDriverWait(chromium, 10).until(lambda d: "/runs/" in d.current_url)
    row = WebDriverWait(chromium, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.ID, "task-transform").text
    )
    assert "failed" in row
    click(chromium, "#task-transform a.log-link")
    log = WebDriverWait(chromium, 10).until(lambda d: d.find_element(By.ID, "log").text)
    assert "transform name_gender for" in log

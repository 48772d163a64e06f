"""jobs.js in real headless Chromium: a job panel htmx swaps in streams its events whether it is inside the
swapped content, its top node, or the swapped element itself (outerHTML).

Screenshots go to the test's tmp dir, and are copied to $OPSGRAFT_UI_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request
from starlette.responses import HTMLResponse, Response

from tests.browser import chromium, serving

pytestmark = pytest.mark.browser

# (what htmx swaps in, how): the panel as the top node of innerHTML content, nested in it, and as the
# element that replaces the target itself.
SWAPS = {"top": ("bare", "innerHTML"), "nested": ("wrapped", "innerHTML"), "outer": ("bare", "outerHTML")}


@pytest.fixture
def page(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    from opsgraft.ui.app import create_app

    app = create_app(tmp_path)
    state = app.state.ui

    @app.get("/test-fragment/{form}/{job_id}")
    def fragment(form: str, job_id: str, request: Request) -> Response:
        panel = state.render(request, "_job.html", job_id=job_id, title=f"job {job_id}", done_url="")
        body = bytes(panel.body).decode()
        return HTMLResponse(body if form == "bare" else f'<div class="wrapper"><p>wrapped</p>{body}</div>')

    with serving(app) as url:
        yield url, state


def _job(state: Any, label: str, release: threading.Event) -> str:
    def fn(emit: Any, cancel: threading.Event) -> dict[str, str]:
        emit({"message": f"{label}: started", "done": 0, "total": 2})
        release.wait(30)  # still running when the panel attaches: the events come live
        emit({"message": f"{label}: finished", "done": 2, "total": 2})
        return {}

    job_id: str = state.jobs.submit("test", label, fn)
    return job_id


def _panel(job_id: str, driver: Any) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'section.job[data-job-id="{job_id}"]')


def _log(panel: Any) -> str:
    from selenium.webdriver.common.by import By

    text: str = panel.find_element(By.CSS_SELECTOR, ".job-log").text
    return text


def _log_has(panel: Any, text: str, _driver: Any) -> bool:
    return text in _log(panel)


def _status_is(panel: Any, status: str, _driver: Any) -> bool:
    return bool(panel.get_attribute("data-status") == status)


def test_swapped_job_panels_stream_their_events(page: tuple[str, Any], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, state = page
    with chromium("1000,900", images=False) as driver:
        driver.get(url + "/adapt")  # any page: it loads htmx and jobs.js
        driver.execute_script("""
            const main = document.querySelector('main');
            main.innerHTML = '';
            for (const name of arguments[0]) {
              const slot = document.createElement('div');
              slot.id = 'slot-' + name;
              main.appendChild(slot);
            }""", list(SWAPS))
        releases = {name: threading.Event() for name in SWAPS}
        ids = {name: _job(state, name, releases[name]) for name in SWAPS}
        for name, (form, swap) in SWAPS.items():
            driver.execute_script("return htmx.ajax('GET', arguments[0], {target: arguments[1], swap: arguments[2]})",
                                  f"/test-fragment/{form}/{ids[name]}", f"#slot-{name}", swap)
        panels = {name: WebDriverWait(driver, 20).until(partial(_panel, ids[name])) for name in SWAPS}
        assert not driver.find_elements(By.ID, "slot-outer")  # outerHTML: the panel replaced its target
        assert panels["nested"].find_element(By.XPATH, "..").get_attribute("class") == "wrapper"
        for name, panel in panels.items():  # one job runs at a time: each is let go once its panel shows it live
            WebDriverWait(driver, 20).until(partial(_log_has, panel, f"{name}: started"))
            releases[name].set()
        for name, panel in panels.items():
            WebDriverWait(driver, 30).until(partial(_status_is, panel, "done"))
            log = _log(panel)
            assert log.splitlines() == [f"queued: {name}", f"running: {name}", f"{name}: started",
                                        f"{name}: finished", "done"], (name, log)
            assert panel.find_element(By.CSS_SELECTOR, ".job-status").text == "done"
            assert panel.find_element(By.CSS_SELECTOR, ".job-progress").get_attribute("value") == "2"
        path = tmp_path / "jobs-swapped-panels.png"
        assert driver.save_screenshot(str(path)) and path.stat().st_size > 5_000
        keep = os.environ.get("OPSGRAFT_UI_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)

"""The Adapt page in real headless Chromium: fill the form, run a replayed adaptation, see the verdict and the diff.

Screenshots go to the test's tmp dir, and are copied to $OPSGRAFT_UI_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adapters.test_adapt_cli import ANSWER
from tests.browser import chromium, serving
from tests.conftest import make_cassette

pytestmark = pytest.mark.browser



@pytest.fixture
def server(sklearn_script: Path) -> Iterator[str]:
    """The page over the script's folder on a free loopback port, in a thread."""
    from opsgraft.ui.app import create_app

    root = sklearn_script.parent
    make_cassette(root / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    with serving(create_app(root)) as url:
        yield url


@pytest.fixture
def driver():  # type: ignore[no-untyped-def]
    with chromium("1300,1000", images=False) as drv:
        yield drv


def _shot(driver, tmp_path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    driver.set_window_size(1300, max(1000, int(driver.execute_script("return document.body.scrollHeight"))))
    path = tmp_path / name
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000
    keep = os.environ.get("OPSGRAFT_UI_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


def test_adapt_run_in_the_browser(server: str, driver, sklearn_script: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server + "/adapt")
    assert driver.title.startswith("Adapt")
    Select(driver.find_element(By.ID, "script")).select_by_value("train.py")
    Select(driver.find_element(By.ID, "change")).select_by_value("tracking:mlflow")
    Select(driver.find_element(By.ID, "backend")).select_by_value("replay")
    for field, value in (("cassette", "c.jsonl"), ("n", "1"), ("repair", "0")):
        box = driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    assert driver.find_element(By.ID, "run").is_selected()
    driver.find_element(By.ID, "adapt-submit").click()

    panel = WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "section.job")))
    assert "opsgraft adapt --config" in driver.find_element(By.CSS_SELECTOR, "code.adapt-command").text
    WebDriverWait(driver, 150).until(lambda d: panel.get_attribute("data-loaded") == "1")
    assert panel.get_attribute("data-status") == "done"
    log = panel.find_element(By.CSS_SELECTOR, ".job-log").text
    assert "round 0: generating 1 sample(s)" in log and "round 0, sample 1: passed" in log

    verdict = WebDriverWait(driver, 10).until(ec.visibility_of_element_located((By.ID, "adapt-verdict")))
    assert verdict.text == "passed" and verdict.size["width"] > 20
    rows = driver.find_elements(By.CSS_SELECTOR, "table.attempts tr.attempt")
    assert [r.text.split()[:4] for r in rows] == [["0", "1", "0", "passed"]]
    diff = driver.find_element(By.CSS_SELECTOR, "pre.diff")
    assert diff.is_displayed() and diff.size["height"] > 100 and diff.size["width"] > 400
    added = driver.find_elements(By.CSS_SELECTOR, "pre.diff .diff-line.add")
    assert any(line.text == "+import mlflow" for line in added)
    colour = driver.execute_script("return getComputedStyle(arguments[0]).backgroundColor", added[0])
    assert colour == "rgb(230, 255, 236)"  # the added-line colour: the diff's stylesheet applied
    _shot(driver, tmp_path, "ui_adapt_run.png")

    driver.find_element(By.ID, "adapt-save").click()
    saved = WebDriverWait(driver, 10).until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".adapt-saved pre.command")))
    assert saved.text.endswith("opsgraft adapt --config adapt-train.toml")
    assert (sklearn_script.parent / "adapt-train.toml").is_file()

    driver.get(server + "/runs")
    run = driver.find_element(By.CSS_SELECTOR, 'tr.run-adapt[data-path="train_tracking_mlflow.opsgraft.json"]')
    assert "passed" in run.text and run.size["height"] > 10
    _shot(driver, tmp_path, "ui_runs.png")

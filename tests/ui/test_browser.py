"""The Parameters page in real headless Chromium against a real server: a 2x2 grid, a refused value.

Screenshots go to the test's tmp dir, and also to $OPSGRAFT_UI_SCREENSHOTS when that is set
(e.g. docs/ui), so a CI run does not dirty the tree.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.types import Message
from opsgraft.ui.app import create_app
from tests.browser import chromium, serving

pytestmark = pytest.mark.browser
GRID_TIMEOUT_S = 300



def report_answer(messages: Sequence[Message]) -> str:
    """Cites the best run's recorded metric (verified) and one number nobody recorded."""
    best = re.search(r"Best setting by (\w+): run (\d+) \(([^)]*)\): \w+ ([\d.e-]+)", messages[-1].content)
    assert best, messages[-1].content
    # the unverified number sits in the summary: with only final values recorded, the tool writes the
    # overfitting section itself (opsgraft/ui/report.py, overfitting_note)
    return (f"## Summary\nRun {best.group(2)} ({best.group(3)}) gives the best {best.group(1)}, "
            f"{best.group(4)}, about 12.3456 points above the rest.\n\n## Signs of overfitting\nNone seen.\n\n"
            "## Next experiments\n- Try a smaller alpha.\n")


@pytest.fixture
def server(served: Path) -> Iterator[str]:
    app = create_app(served, None, backend_factory=lambda: ScriptedBackend([report_answer]))
    with serving(app) as url:
        yield url


@pytest.fixture
def driver():  # type: ignore[no-untyped-def]
    with chromium("1300,1600", images=True) as drv:
        yield drv


def screenshot(driver, tmp_path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "screenshots" / name
    path.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(path))
    keep = os.environ.get("OPSGRAFT_UI_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


def open_script(driver, server: str, script: str):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{server}/params")
    box = driver.find_element(By.ID, "script-input")
    box.clear()
    box.send_keys(script)
    driver.find_element(By.ID, "open-button").click()
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "params-table")))
    return {row.get_attribute("data-param"): row for row in driver.find_elements(By.CSS_SELECTOR, "#params-table tr[data-param]")}


def grid_case(served: Path) -> tuple[str, dict[str, str], list[tuple[str, str]], str]:
    """(script, values typed, the 4 expected (param1, param2) pairs, a metric it prints): the corpus
    config-json sklearn task's reference when the corpus has it, else the test fixture."""
    from importlib import resources

    reference = resources.files("opsgraft.corpus") / "tasks" / "config-json-sklearn-wine-forest" / "reference" / "train.py"
    if reference.is_file():
        (served / "scripts" / "wine_forest.py").write_text(reference.read_text(encoding="utf-8"), encoding="utf-8")
        return ("scripts/wine_forest.py", {"n_estimators": "5, 20", "max_depth": "2, 4"},
                [("20", "2"), ("20", "4"), ("5", "2"), ("5", "4")], "accuracy")
    return ("scripts/train_grid.py", {"alpha": "0.0001, 0.01", "epochs": "1, 2"},
            [("0.0001", "1"), ("0.0001", "2"), ("0.01", "1"), ("0.01", "2")], "val_accuracy")


def test_grid_of_four_runs_is_tracked_and_reported(driver, server: str, served: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    script, typed, expected, metric = grid_case(served)
    rows = open_script(driver, server, script)
    for name, text in typed.items():
        rows[name].find_element(By.TAG_NAME, "input").send_keys(text)
    screenshot(driver, tmp_path, "params-grid-form.png")
    driver.find_element(By.ID, "run-button").click()
    panel = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, "section.job"))
    WebDriverWait(driver, 30).until(lambda d: "[1/4] training" in panel.find_element(By.CSS_SELECTOR, ".job-log").text)
    screenshot(driver, tmp_path, "params-grid-running.png")
    WebDriverWait(driver, GRID_TIMEOUT_S, poll_frequency=0.5).until(lambda d: panel.get_attribute("data-loaded") == "1")
    assert panel.get_attribute("data-status") == "done", panel.text
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "report"))
    runs = driver.find_elements(By.CSS_SELECTOR, "#runs-table tr.run-row")
    assert len(runs) == 4 and all("passed" in r.text for r in runs)
    report = driver.find_element(By.ID, "report")
    marks = report.find_elements(By.CSS_SELECTOR, "strong.unverified")
    assert [m.text for m in marks] == ["(unverified)"] and "12.3456 (unverified)" in report.text
    assert report.find_element(By.TAG_NAME, "h2").text == "Summary"
    images = driver.find_elements(By.CSS_SELECTOR, "#plots img")
    assert images and all(driver.execute_script("return arguments[0].naturalWidth", img) > 100 for img in images)
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "grid-result"))
    screenshot(driver, tmp_path, "params-grid-report.png")

    from mlflow.tracking import MlflowClient

    store = MlflowClient(f"sqlite:///{served.resolve() / '.opsgraft' / 'mlflow.db'}")
    experiment = store.get_experiment_by_name(f"opsgraft-ui/{script}")
    found = store.search_runs([experiment.experiment_id])
    first, second = typed
    assert sorted((r.data.params[first], r.data.params[second]) for r in found) == expected
    for run in found:
        assert metric in run.data.metrics and run.data.tags["opsgraft.script"] == script
        assert len(run.data.params) > 2  # the defaults are logged too


def test_a_refused_value_shows_its_reason(driver, server: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    rows = open_script(driver, server, "scripts/train_grid.py")
    rows["epochs"].find_element(By.TAG_NAME, "input").send_keys("2, many")
    driver.find_element(By.ID, "run-button").click()
    alert = WebDriverWait(driver, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, "#params-output .error"))
    assert alert.text == "epochs: 'many' is not an int"
    assert not driver.find_elements(By.CSS_SELECTOR, "section.job")
    screenshot(driver, tmp_path, "params-refused.png")

    box = driver.find_element(By.ID, "script-input")
    box.clear()
    box.send_keys("plain.py")
    driver.find_element(By.ID, "open-button").click()
    # the form re-renders once more after the error first shows: read the text inside the wait, retrying on a
    # stale element (a clean-clone CI run failed here with StaleElementReferenceException)
    from selenium.common.exceptions import StaleElementReferenceException

    error_text = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#script-form .error").text)
    assert error_text.startswith("script has no config")

"""report.html opened in real headless Chromium: tables and plots are visible, with no network at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.evaluation.benchmark import report
from tests.browser import chromium
from tests.evaluation.report_runs import make_run

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def driver():  # type: ignore[no-untyped-def]
    with chromium("1400,1000", images=True) as drv:
        yield drv


def test_report_html_shows_tables_and_plots(driver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    run = make_run(tmp_path / "run")
    html = report.render(run)["html"]
    driver.get(html.resolve().as_uri())
    assert driver.title.startswith("opsgraft bench report")

    tables = driver.find_elements(By.CSS_SELECTOR, "table.report")
    assert len(tables) == 7
    for table in tables:
        assert table.size["width"] > 100 and table.size["height"] > 20, table.get_attribute("data-key")
    layout = driver.find_element(By.CSS_SELECTOR, 'table[data-key="layout-inline"]')
    assert "tracking: mlflow (all)" in layout.text and "GPT-3.5-turbo 100%" in layout.text
    assert "T=0.2 zero-shot" in layout.text
    tasks = driver.find_element(By.CSS_SELECTOR, 'table[data-key="tasks"]')
    assert "no Optuna study was created (3/3)" in tasks.text
    link = tasks.find_element(By.LINK_TEXT, "s0 r0")
    assert link.get_attribute("href").startswith(run.resolve().as_uri())  # relative to the run dir

    images = driver.find_elements(By.CSS_SELECTOR, "img.plot")
    assert len(images) == 2
    for img in images:
        # naturalWidth > 0 only once the PNG decoded: a broken image has a box but no pixels.
        natural = driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
        assert natural and natural > 200
        assert img.size["width"] > 200 and img.size["height"] > 100

    # Kept after the run (pytest's tmp dirs rotate): tests/artifacts/ is ignored by git.
    artifacts = ARTIFACTS
    artifacts.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(1400, max(1000, int(driver.execute_script("return document.body.scrollHeight"))))
    shot = artifacts / "bench_report_html.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

"""Headless Chromium for the browser tests (report HTML, the web page): one driver setup for all of them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


@contextmanager
def chromium(window: str = "1300,1000", images: bool = True) -> Iterator[Any]:
    """A Chrome driver with the crawler's flags (headless, no sandbox, every host but 127.0.0.1
    unresolvable); ``images`` lets pictures load (the plots are what several tests look at).
    Skips the test where Chromium or its driver is not installed."""
    from opsgraft.curation.crawler import CHROME_FLAGS, CHROMEDRIVER, CHROMIUM

    if not (shutil.which("chromium") or Path(CHROMIUM).exists()) or not Path(CHROMEDRIVER).exists():
        pytest.skip("chromium/chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    if Path(CHROMIUM).exists():
        options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        if not (images and flag.startswith("--blink-settings=imagesEnabled")):
            options.add_argument(flag)
    options.add_argument(f"--window-size={window}")
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield drv
    finally:
        drv.quit()


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` (the web page) served by uvicorn on a free loopback port in a thread; yields its URL."""
    import socket
    import threading
    import time

    import uvicorn

    # uvicorn serves the socket bound here: a port that was only looked up and let go could be
    # taken by another test process (pytest -n 2) before uvicorn bound it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.ui.jobs.shutdown()
        srv.should_exit = True
        thread.join(10)
        sock.close()

"""opsgraft/ui/security.py: paths stay under the root, names are sanitised, the token and host are checked."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsgraft.ui.app import create_app
from opsgraft.ui.security import (
    PathOutsideRootError,
    PortBusyError,
    check_port,
    resolve_under,
    safe_name,
    unique_path,
)


def test_resolve_under_accepts_inside_paths(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert resolve_under(tmp_path, "a/b.py") == tmp_path.resolve() / "a" / "b.py"
    assert resolve_under(tmp_path, str(tmp_path / "a")) == tmp_path.resolve() / "a"
    assert resolve_under(tmp_path, "a/../a/x") == tmp_path.resolve() / "a" / "x"


@pytest.mark.parametrize("rel", ["..", "../x.py", "a/../../x", "/etc/passwd", "", "a\x00b"])
def test_resolve_under_refuses_escapes(tmp_path: Path, rel: str) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(PathOutsideRootError):
        resolve_under(tmp_path / "a", rel)


def test_resolve_under_refuses_a_symlink_out(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.py").write_text("x = 1\n")
    os.symlink(outside, root / "link")
    with pytest.raises(PathOutsideRootError, match="outside the root"):
        resolve_under(root, "link/secret.py")


@pytest.mark.parametrize(("name", "clean"), [
    ("../../etc/passwd", "passwd"), ("my file.json", "my_file.json"), (".hidden", "hidden"),
    ("a\\b\\c.py", "c.py"), ("", "file"), ("$(rm -rf).py", "_rm_-rf_.py"),
])
def test_safe_name(name: str, clean: str) -> None:
    assert safe_name(name) == clean


def test_unique_path_counts_up(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{}")
    (tmp_path / "c_2.json").write_text("{}")
    assert unique_path(tmp_path / "c.json") == tmp_path / "c_3.json"
    assert unique_path(tmp_path / "new.json") == tmp_path / "new.json"


def test_busy_port_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortBusyError, match=f"cannot listen on 127.0.0.1:{port}"):
            check_port("127.0.0.1", port)
    check_port("127.0.0.1", port)  # free again


def test_busy_port_via_the_cli_is_one_line_and_nonzero(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code, _, err = run_cli(["ui", "--port", str(port), "--dir", str(tmp_path), "--backend", "replay"])
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_token_is_required_beyond_loopback(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, "s3cret"), base_url="http://192.168.1.9:8765")
    assert client.get("/params").status_code == 403
    assert client.get("/params?token=wrong").status_code == 403
    assert client.get("/params", headers={"x-opsgraft-token": "s3cret"}).status_code == 200
    assert client.get("/params?token=s3cret").status_code == 200
    assert client.cookies.get("opsgraft_token") == "s3cret"  # the first visit sets the cookie
    assert client.get("/params").status_code == 200


def test_loopback_refuses_foreign_host_and_cross_site_posts(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, None), base_url="http://127.0.0.1:8765")
    assert client.get("/params").status_code == 200
    assert client.get("/params", headers={"host": "attacker.example:8765"}).status_code == 403
    evil = client.post("/params/run", data={"script": "x.py"}, headers={"origin": "http://attacker.example"})
    assert evil.status_code == 403
    same = client.post("/params/run", data={"script": "x.py"}, headers={"origin": "http://127.0.0.1:8765"})
    assert same.status_code == 422 and "no such script" in same.text

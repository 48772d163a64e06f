"""Command-line reference pages rendered from an installed package's console scripts."""

from pathlib import Path

from opsgraft.curation.apidocs import render_cli


def test_dvc_commands_get_one_page_each_with_subcommands_as_sections(tmp_path: Path) -> None:
    rendered = render_cli("dvc", tmp_path, "9.9")
    names = {r["module"] for r in rendered}
    assert {"cli-dvc-add", "cli-dvc-push", "cli-dvc-init", "cli-dvc-remote"} <= names
    add = (tmp_path / "cli-dvc-add.html").read_text()
    assert "<h1>dvc add</h1>" in add and "Track data files or directories with DVC." in add
    assert "subprocess.run([&quot;dvc&quot;, &quot;add&quot;, ...], check=True)" in add
    remote = (tmp_path / "cli-dvc-remote.html").read_text()
    assert "<h2>dvc remote add</h2>" in remote and "<h2>dvc remote modify</h2>" in remote
    # Aliases (dvc exp / dvc experiments) are rendered once.
    assert not ({"cli-dvc-exp", "cli-dvc-experiments"} <= names)
    summary = next(r["summary"] for r in rendered if r["module"] == "cli-dvc-add")
    assert summary.startswith("command line: dvc add. Track data files")


def test_package_without_console_scripts_has_no_cli_pages(tmp_path: Path) -> None:
    assert render_cli("git", tmp_path, "1") == []
    assert list(tmp_path.iterdir()) == []

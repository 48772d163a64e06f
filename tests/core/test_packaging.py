"""The package installs under opsgraft.* only: from a built wheel, outside the repo."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_opsgraft_namespace_only(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("opsgraft-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert all(n.startswith(("opsgraft/", "opsgraft-")) for n in names), [n for n in names if "opsgraft" not in n]
    assert any(n.startswith("opsgraft/corpus/") for n in names)
    assert "opsgraft/adapters/prompts/system.md" in names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = (
        "import importlib.util, opsgraft, opsgraft.adapters, opsgraft.retrieval, opsgraft.curation, "
        "opsgraft.evaluation, opsgraft.corpus\n"
        f"assert opsgraft.__file__.startswith({str(target)!r}), opsgraft.__file__\n"
        "spec = importlib.util.find_spec('adapters')\n"
        "assert spec is None or 'opsgraft' not in str(spec.origin), spec\n"
        "from importlib import resources\n"
        "assert (resources.files('opsgraft.adapters') / 'prompts' / 'system.md').is_file()\n"
        "print('ok')\n"
    )  # noqa: UP031 (the snippet is easier to read without f-string braces)
    # -I: isolated mode, so neither the repo nor the editable install can leak in.
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r})\n" + code],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

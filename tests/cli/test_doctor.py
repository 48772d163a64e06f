from tests.conftest import model_available, run_cli


def test_doctor_reports_a_missing_model_with_a_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSGRAFT_MODEL", str(tmp_path / "missing.gguf"))
    code, out, err = run_cli(["doctor"])
    assert code != 0
    assert "FAIL model file" in out and "missing.gguf" in out
    assert "fix: run 'opsgraft model install'" in out
    assert "check(s) failed" in err


def test_doctor_flags_a_corrupt_model(tmp_path, monkeypatch):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF not really")
    monkeypatch.setenv("OPSGRAFT_MODEL", str(bad))
    code, out, _ = run_cli(["doctor"])
    assert code != 0 and "sha256 MISMATCH" in out


def test_doctor_passes_on_a_set_up_machine():
    if not model_available():
        import pytest

        pytest.skip("model not assembled")
    from opsgraft.evaluation.isolation import available
    from opsgraft.registry import plugins

    code, out, err = run_cli(["doctor"])
    assert code == 0, out + err
    # Isolation and plugins are optional: "warn" where bwrap cannot work or a plugin is broken, and
    # doctor still passes.
    plugins_ok = all(p.ok for p in plugins())
    assert out.count("ok  ") == 7 + available()[0] + plugins_ok and "all checks passed" in out

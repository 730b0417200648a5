"""The emulator's synth cache: keyed by everything the template is made of, so an edit never reuses a stale one."""

from __future__ import annotations

import pytest

from simulator import synthesized


@pytest.fixture
def project(tmp_path, monkeypatch):
    for name in ("app.py", "cdk.json", "requirements.txt", "requirements-dev.txt", "package-lock.json"):
        (tmp_path / name).write_text(f"{name}\n")
    for folder, name in (("stacks", "stack.py"), ("state_machines", "high_cpu.asl.json"), ("functions", "h.py")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_text("v1\n")
    monkeypatch.setattr(synthesized, "PROJECT_ROOT", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "changed", ["cdk.json", "stacks/stack.py", "state_machines/high_cpu.asl.json", "functions/h.py"]
)
def test_given_an_input_of_the_synthesis_changes_when_digested_then_the_cache_key_changes(project, changed):
    before = synthesized.synth_inputs_digest()

    (project / changed).write_text("v2\n")

    assert synthesized.synth_inputs_digest() != before


def test_given_bytecode_or_a_new_cache_folder_when_digested_then_the_key_stays(project):
    before = synthesized.synth_inputs_digest()

    (project / "functions" / "__pycache__").mkdir()
    (project / "functions" / "__pycache__" / "h.cpython-311.pyc").write_bytes(b"\0")
    (project / "simulation-output").mkdir()

    assert synthesized.synth_inputs_digest() == before


def test_given_a_stored_entry_when_loaded_then_template_and_assets_come_back_by_object_key(tmp_path):
    entry = tmp_path / "production-abc"
    (entry / "assets").mkdir(parents=True)
    (entry / "assets" / "0a1b.json").write_text('{"StartAt": "A"}')
    (entry / "template.json").write_text('{"Resources": {}}')

    loaded = synthesized._load_entry(entry)

    assert loaded.template == {"Resources": {}}
    assert loaded.assets["0a1b.json"].read_text() == '{"StartAt": "A"}'

"""node.state_dir's health: leftover temporaries removed, unusable files set aside once, failing
writes logged once then rate-limited, reported and cleared (appliance.runtime.state_files)."""

import errno
import json
import logging

from appliance.runtime.atomic import atomic_write_json
from appliance.runtime.state_files import StateFiles, what_is_wrong
from appliance.runtime.tempcomp_store import FILENAME, PredictorStore


class _Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _enospc():
    raise OSError(errno.ENOSPC, "No space left on device")


def test_leftover_temporaries_of_atomic_writes_are_removed_and_nothing_else(tmp_path):
    atomic_write_json(tmp_path / "tempcomp.json", {"a": 1})
    (tmp_path / ".tempcomp.json.k2j4_x9.tmp").write_text("{half")
    (tmp_path / ".last-known-good.json.abc123.tmp").write_text("")
    (tmp_path / "notes.tmp").write_text("an operator's file")
    (tmp_path / ".hidden").write_text("x")
    files = StateFiles(tmp_path)
    removed = files.sweep_temporaries()
    assert sorted(p.name for p in removed) == [".last-known-good.json.abc123.tmp", ".tempcomp.json.k2j4_x9.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "notes.tmp", "tempcomp.json"]
    assert files.status()["temporaries_removed"] == [p.name for p in removed]
    assert StateFiles(tmp_path / "missing").sweep_temporaries() == []


def test_a_failing_write_is_logged_once_then_rate_limited_and_its_recovery_is_told(tmp_path, caplog):
    mono = _Clock()
    files = StateFiles(tmp_path, repeat_log_s=3600, mono=mono)
    caplog.set_level(logging.INFO, "appliance.state")
    for _ in range(86400 // 60):  # a day of one write a minute
        assert files.write("tempcomp.json", _enospc) is False
        mono.t += 60
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert 24 <= len(errors) <= 25, len(errors)  # the first, then one an hour: not 1440
    assert "No space left on device" in errors[0].getMessage() and str(tmp_path) in errors[0].getMessage()
    st = files.status()
    assert st["writable"] is False and st["write_failures_total"] == 1440
    assert st["failing"]["tempcomp.json"]["failures"] == 1440
    assert st["failing"]["tempcomp.json"]["error"] == "No space left on device"
    caplog.clear()
    assert files.write("tempcomp.json", lambda: None) is True
    assert "written again (after 1440 failed writes)" in caplog.text
    assert files.status()["writable"] is True and files.status()["failing"] == {}
    assert files.status()["write_failures_total"] == 1440  # a counter: never goes back


def test_an_unusable_file_is_set_aside_with_the_time_and_never_overwritten(tmp_path, caplog):
    wall = _Clock()
    wall.t = 1796212800.0  # 2026-12-02T12:00:00Z
    files = StateFiles(tmp_path, wall=wall)
    path = tmp_path / FILENAME
    path.write_text("{truncat")
    p = PredictorStore(tmp_path, files).load(0.0, 0.0)
    assert not p.ready()
    aside = tmp_path / f"{FILENAME}.corrupt-20261202T120000Z"
    assert not path.exists() and aside.read_text() == "{truncat"
    assert caplog.text.count(str(path)) == 1 and "not valid JSON" in caplog.text and aside.name in caplog.text
    assert files.status()["set_aside"] == [str(aside)]
    # the next start finds nothing to complain about; a second corrupt file in the same second keeps both
    caplog.clear()
    assert not PredictorStore(tmp_path, files).load(0.0, 0.0).ready() and caplog.text == ""
    path.write_text(json.dumps({"format": "appliance-tempcomp-state"}))
    PredictorStore(tmp_path, files).load(0.0, 0.0)
    assert aside.exists() and (tmp_path / f"{aside.name}-2").exists()


def test_what_is_wrong_is_a_sentence_not_a_bare_key(tmp_path):
    (tmp_path / FILENAME).write_text(
        json.dumps({"format": "appliance-tempcomp-state", "saved_time_s": 0, "saved_wall_s": 0})
    )
    files = StateFiles(tmp_path)
    PredictorStore(tmp_path, files).load(0.0, 0.0)
    assert what_is_wrong(KeyError("predictor")) == "the field 'predictor' is missing"
    assert len(files.status()["set_aside"]) == 1


def test_a_full_disk_on_save_is_reported_not_raised(tmp_path, monkeypatch):
    import appliance.runtime.tempcomp_store as store_mod

    files = StateFiles(tmp_path)
    monkeypatch.setattr(store_mod, "atomic_write_json", lambda *a: _enospc())
    assert PredictorStore(tmp_path, files).save({}, 0.0, 0.0) is False
    assert files.status()["failing"][FILENAME]["error"] == "No space left on device"

"""The trial's watchdog: no progress for the timeout ends the process, after noting why in the trial folder."""

import json
import threading
import time

from contract.folders import read_fault_notes
from trainables.run import watchdog


def test_no_beat_for_the_timeout_notes_why_and_ends_the_process_with_its_own_status(tmp_path):
    ended = threading.Event()
    codes = []
    with watchdog.Watchdog(0.3, lambda m: watchdog.note_fault(tmp_path, "hang", m),
                           exit_=lambda code: (codes.append(code), ended.set())):
        assert ended.wait(timeout=5)
    assert codes == [watchdog.HUNG_EXIT]
    (note,) = read_fault_notes(tmp_path)
    assert note["fault"] == "hang" and note["message"].startswith("hung: no progress for ")
    assert note["message"].endswith("over resources.trial_timeout_s (0.3)")


def test_beats_keep_a_trial_alive_and_no_timeout_watches_nothing(tmp_path):
    codes = []
    with watchdog.Watchdog(0.5, lambda m: None, exit_=codes.append):
        for _ in range(15):  # 1.5 s of work, a beat every 0.1 s
            time.sleep(0.1)
            watchdog.beat()
    with watchdog.Watchdog(None, lambda m: None, exit_=codes.append) as idle:
        assert idle._thread is None
    assert codes == []


def test_a_note_appends_and_a_damaged_line_is_skipped(tmp_path):
    watchdog.note_fault(tmp_path, "memory", "first")
    with open(tmp_path / "regimes_faults.jsonl", "ab") as handle:
        handle.write(b"\xff not json\n[1, 2]\n\"a string\"\n{\"fault\": \"hang\"}\n")  # none of them a note
    watchdog.note_fault(tmp_path, "hang", "second")
    assert [n["message"] for n in read_fault_notes(tmp_path)] == ["first", "second"]
    watchdog.note_fault(None, "hang", "nowhere")  # a trial outside Tune: no folder, no error
    assert json.loads((tmp_path / "regimes_faults.jsonl").read_bytes().splitlines()[-1])["fault"] == "hang"

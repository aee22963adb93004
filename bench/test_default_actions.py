"""Unit tests for bench/default_actions.py (no modgate binary, no data needed).

Runs under pytest or on its own (`python bench/test_default_actions.py`).
"""

import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import plain_tests  # noqa: E402
import default_actions as da  # noqa: E402


def test_rows_are_counted_by_side_and_action():
    labels = ["clean", "ham", "spam", "offensive", "hate", "toxic", "clean"]
    actions = ["approve", "reject", "reject", "hold", "reject", "approve", "hold"]
    counts = da.tally(labels, actions)
    assert counts["negative"] == Counter({"approve": 1, "reject": 1, "hold": 1})
    assert counts["positive"] == Counter({"reject": 2, "hold": 1, "approve": 1})


def test_cells_read_approve_hold_reject_of_n():
    assert da.cell(Counter({"approve": 1200, "reject": 3})) == "1,200 / 0 / 3 of 1,203"


def test_a_missing_data_folder_is_named():
    plain_tests.assert_names_a_missing_data_folder(da.__file__)


def test_end_to_end_with_a_fake_modgate():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "toy").mkdir()
        (tmp / "toy" / "dev.jsonl").write_text(
            '{"text": "buy now", "label": "spam"}\n{"text": "nice article", "label": "ham"}\n',
            encoding="utf-8",
        )
        # Rejects what mentions buying, approves the rest, as `check --json` would say it.
        fake = plain_tests.fake_check_modgate(
            tmp, "{'suggested': 'reject' if 'buy' in text else 'approve'}", exit_code="1 if 'buy' in text else 0"
        )
        result = plain_tests.run_script(da.__file__, "--model", "m.model", "--data", str(tmp), "--modgate", str(fake))
        assert result.returncode == 0, result.stderr
        assert "| toy | m.model | 1 / 0 / 0 of 1 | 0 / 0 / 1 of 1 |" in result.stdout, result.stdout


if __name__ == "__main__":
    plain_tests.run(globals())

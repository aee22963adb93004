"""Unit tests for bench/spelling_variants.py (no modgate binary, no data needed).

Runs under pytest or on its own (`python bench/test_spelling_variants.py`).
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import plain_tests  # noqa: E402
import spelling_variants as sv  # noqa: E402


def test_tone_placement_moves_both_ways():
    assert sv.respell("Chúc cả nhà hoà thuận, mạnh khỏe") == "Chúc cả nhà hòa thuận, mạnh khoẻ"
    assert sv.respell("Thuỷ THỦY") == "Thủy THUỶ"


def test_i_and_y_swap_only_where_both_are_written():
    assert sv.respell("lý do kĩ thuật") == "lí do kỹ thuật"
    # "thì", "chị" and "ý" have one spelling; "quý" has its tone on the "y" either way.
    for text in ["thì chị ý", "quý khách", "hoàng thuyền", "ngoài khuya", "my friend"]:
        assert sv.respell(text) == text, text


def test_decomposed_input_is_read_as_composed():
    assert sv.respell("hoa\u0300") == "hòa"


def test_a_missing_data_folder_is_named():
    plain_tests.assert_names_a_missing_data_folder(sv.__file__)


def test_one_binary_per_model_or_one_for_all():
    models = [Path("a.model"), Path("b.model")]
    assert sv.pair_binaries(models, [Path("m")]) == [(Path("a.model"), Path("m")), (Path("b.model"), Path("m"))]
    try:
        sv.pair_binaries(models, [Path("m1"), Path("m2"), Path("m3")])
    except SystemExit as exc:
        assert "--modgate" in str(exc)
    else:
        raise AssertionError("three binaries for two models were accepted")


def test_end_to_end_with_a_fake_modgate():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "toy").mkdir()
        (tmp / "toy" / "dev.jsonl").write_text(
            '{"text": "hoà bình", "label": "ham", "lang": "vi"}\n'
            '{"text": "khỏe không", "label": "ham", "lang": "vi"}\n'
            '{"text": "nothing to respell", "label": "ham", "lang": "en"}\n',
            encoding="utf-8",
        )
        # Holds text with the new-style "oà" only: a model that reads the two spellings apart.
        fake = plain_tests.fake_check_modgate(
            tmp,
            "{'suggested': 'hold' if 'oà' in text else 'approve',"
            " 'scores': {'spam': 0.9 if 'oà' in text else 0.1, 'abuse': 0.0, 'hate': 0.0}}",
        )
        result = plain_tests.run_script(sv.__file__, "--model", "m.model", "--data", str(tmp), "--modgate", str(fake))
        assert result.returncode == 0, result.stderr
        # Two rows respelled, one changed action; shifts 0.8/3 and 0 average to 0.1333.
        assert "| toy | 2 | m.model | 1 | 0.1333 |" in result.stdout, result.stdout


if __name__ == "__main__":
    plain_tests.run(globals())

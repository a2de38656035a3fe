"""The event log's JSON round-trips exactly, big integers included."""

from __future__ import annotations

from engine.support import jsonio


def test_round_trip_plain_values() -> None:
    value = {"a": [1, 2.5, None, True], "b": {"c": "é\u2028"}, "n": 2**63 - 1}
    assert jsonio.loads(jsonio.dumps(value)) == value


def test_integers_beyond_64_bits_stay_exact() -> None:
    value = {"id": 123456789012345678901234567890, "neg": -(2**70)}
    text = jsonio.dumps(value)
    assert jsonio.loads(text) == value
    assert isinstance(jsonio.loads(text)["id"], int)


def test_reads_text_from_the_standard_library_too() -> None:
    assert jsonio.loads('{"x": [1, 2]}') == {"x": [1, 2]}
    assert jsonio.loads(b'{"x": 1}') == {"x": 1}

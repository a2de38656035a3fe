"""MessageParser on long lines that arrive in pieces."""

from __future__ import annotations

import json

from engine.run.results import MessageParser


def _message(content: str) -> str:
    header = {"message_id": "m1", "sender": "a", "priority": "high"}
    return json.dumps({"header": header, "body": {"message_type": "finding", "content": content}})


def _pieces(line: str, size: int) -> list[tuple[str, bool]]:
    chunks = [line[i : i + size] for i in range(0, len(line), size)]
    return [(c, True) for c in chunks] + [("", False)]


def test_a_message_split_into_pieces_is_assembled() -> None:
    parser = MessageParser()
    line = "  " + _message("x" * 5000) + " \t"
    outputs = [parser.feed(text, partial) for text, partial in _pieces(line, 700)]
    assert outputs[:-1] == [None] * (len(outputs) - 1)
    message = outputs[-1]
    assert message is not None and message.message_type == "finding"
    assert message.content == "x" * 5000 and message.priority == "high"
    assert not parser.pending


def test_a_long_line_that_is_not_json_is_dropped_quietly() -> None:
    parser = MessageParser()
    line = "{" + "not json " * 2000
    assert all(parser.feed(t, p) is None for t, p in _pieces(line, 512))
    assert parser.dropped is None and not parser.pending
    assert parser.feed(_message("next"), False) is not None  # the next line is read afresh


def test_a_message_ending_in_its_final_piece_after_blank_pieces() -> None:
    parser = MessageParser()
    line = _message("y" * 100)
    pieces = [(line[:50], True), (line[50:], True), ("   ", True), ("\n", False)]
    outputs = [parser.feed(t, p) for t, p in pieces]
    assert outputs[-1] is not None and outputs[-1].content == "y" * 100

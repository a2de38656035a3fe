"""LineSplitter: chunk boundaries, caps, endings and broken bytes."""

from __future__ import annotations

import random

import pytest

from engine.execution.line_splitter import LineSplitter, plain_bytes, short_lines
from engine.execution.log_block import LogBlock


def pieces(block: LogBlock | None) -> list[tuple[str, bool]]:
    return [] if block is None else [(text, partial) for _, text, partial in block.lines()]


def feed(splitter: LineSplitter, data: bytes) -> list[tuple[str, bool]]:
    """The ``(text, partial)`` pieces a chunk completes."""
    return pieces(splitter.block(data, 0.0))


def flush(splitter: LineSplitter) -> list[tuple[str, bool]]:
    return pieces(splitter.flush_block(0.0))


def split_all(chunks: list[bytes], max_chars: int = 100) -> list[tuple[str, bool]]:
    splitter = LineSplitter(max_chars)
    out = []
    for chunk in chunks:
        out += feed(splitter, chunk)
    return out + flush(splitter)


def join_lines(pieces: list[tuple[str, bool]]) -> list[str]:
    lines, current = [], ""
    for text, partial in pieces:
        current += text
        if not partial:
            lines.append(current)
            current = ""
    assert current == "", "stream ended on a partial piece"
    return lines


def test_lines_and_endings() -> None:
    assert split_all([b"one\ntwo\r\nthree"]) == [("one", False), ("two", False), ("three", False)]


def test_empty_lines_are_kept() -> None:
    assert split_all([b"\n\na\n\n"]) == [("", False), ("", False), ("a", False), ("", False)]


def test_no_output_gives_nothing() -> None:
    assert split_all([]) == []
    assert split_all([b""]) == []


def test_bare_cr_and_inner_cr_are_kept() -> None:
    assert split_all([b"50%\r100%\n", b"x\r\r\n"]) == [("50%\r100%", False), ("x\r", False)]


def test_unterminated_last_line_is_kept_as_is() -> None:
    assert split_all([b"a\nb\r"]) == [("a", False), ("b\r", False)]


def test_line_across_chunks() -> None:
    assert split_all([b"hel", b"lo wor", b"ld\nnext", b"\n"]) == [
        ("hello world", False),
        ("next", False),
    ]


def test_crlf_split_across_chunks() -> None:
    assert split_all([b"abc\r", b"\ndef\r", b"\n"]) == [("abc", False), ("def", False)]


def test_multibyte_character_split_across_chunks() -> None:
    data = "héllo → 世界 🎉\n".encode()
    chunks = [data[i : i + 1] for i in range(len(data))]
    assert split_all(chunks) == [("héllo → 世界 🎉", False)]


def test_invalid_utf8_and_nul_survive() -> None:
    assert split_all([b"a\x00b\xffc\xc3\n", b"\x1b[31mred\x07\n"]) == [
        ("a\x00b\ufffdc\ufffd", False),
        ("\x1b[31mred\x07", False),
    ]


def test_truncated_utf8_at_end_of_stream() -> None:
    assert split_all([b"ok\xe4\xb8"]) == [("ok\ufffd", False)]


def test_long_line_in_one_chunk_is_cut_into_pieces() -> None:
    assert split_all([b"a" * 25 + b"\n"], max_chars=10) == [
        ("a" * 10, True),
        ("a" * 10, True),
        ("a" * 5, False),
    ]


def test_line_of_exactly_the_cap_is_one_piece() -> None:
    assert split_all([b"a" * 10 + b"\n", b"b" * 10], max_chars=10) == [
        ("a" * 10, False),
        ("b" * 10, False),
    ]


def test_line_of_a_multiple_of_the_cap_ends_with_a_full_final_piece() -> None:
    chunks = [b"a" * 7, b"a" * 13, b"\n"]
    assert split_all(chunks, max_chars=10) == [("a" * 10, True), ("a" * 10, False)]


def test_cap_plus_crlf_is_not_split() -> None:
    assert split_all([b"a" * 10 + b"\r", b"\n"], max_chars=10) == [("a" * 10, False)]


def test_long_lines_mixed_with_short_ones() -> None:
    pieces = split_all([b"x\n" + b"y" * 23 + b"\n\nz\n"], max_chars=10)
    assert join_lines(pieces) == ["x", "y" * 23, "", "z"]
    assert [len(t) for t, _ in pieces] == [1, 10, 10, 3, 0, 1]


def test_giant_line_keeps_memory_bounded() -> None:
    splitter = LineSplitter(1000)
    total = 0
    for _ in range(1000):
        for text, partial in feed(splitter, b"q" * 4096):
            assert partial and len(text) == 1000
            total += len(text)
        assert splitter._pending_len <= 1001
    rest = flush(splitter)
    total += sum(len(t) for t, _ in rest)
    assert rest[-1][1] is False
    assert total == 4096 * 1000


def test_byte_at_a_time_progress_bar_line() -> None:
    data = b"\r".join(b"%d%%" % i for i in range(200)) + b"\n"
    pieces = split_all([data[i : i + 1] for i in range(len(data))], max_chars=64)
    assert join_lines(pieces) == [data[:-1].decode()]
    assert all(len(t) == 64 for t, partial in pieces if partial)


@pytest.mark.parametrize("seed", range(20))
def test_random_chunking_matches_whole_input(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = ["a", "é", "世", "🎉", "\n", "\r\n", "\r", "\x00", "\n\n"]
    text = "".join(rng.choice(alphabet) for _ in range(3000))
    data = text.encode()
    cuts = sorted(rng.sample(range(1, len(data)), 60))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    expected_lines = text.split("\n")
    if expected_lines[-1] == "":
        expected_lines.pop()
    expected_lines = [
        line[:-1] if line.endswith("\r") and i < len(text.split("\n")) - 1 else line
        for i, line in enumerate(expected_lines)
    ]
    pieces = split_all(chunks, max_chars=7)
    assert join_lines(pieces) == expected_lines
    assert all(len(t) == 7 for t, partial in pieces if partial)
    assert all(len(t) <= 7 for t, _ in pieces)


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LineSplitter(0)


@pytest.mark.parametrize("seed", range(6))
def test_lines_near_a_large_cap_are_cut_exactly(seed: int) -> None:
    """Reads of whole lines are kept as one text unless a line may pass the cap (the window
    test); lines just under, at and over a cap of 4,096 come out as the slow split gives them."""
    rng = random.Random(seed)
    lengths = [rng.choice([0, 80, 2047, 2048, 4095, 4096, 4097, 8192, 9000]) for _ in range(200)]
    lines = ["".join(rng.choice("ab é") for _ in range(n)) for n in lengths]
    data = "".join(line + "\n" for line in lines).encode()
    cuts = sorted(rng.sample(range(1, len(data)), 40))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    pieces = split_all(chunks, max_chars=4096)
    assert join_lines(pieces) == lines
    assert all(len(t) == 4096 for t, partial in pieces if partial)
    assert all(len(t) <= 4096 for t, _ in pieces)


def test_window_test_never_passes_a_long_line() -> None:
    rng = random.Random(7)
    for _ in range(300):
        text = "\n".join("x" * rng.choice([0, 10, 1500, 3000, 5000]) for _ in range(20))
        longest = max(map(len, text.split("\n")))
        if short_lines(text, 4096):
            assert longest <= 4096
        if longest < 2048:  # every window of 2,048 holds a newline
            assert short_lines(text, 4096)


def test_a_read_of_short_lines_is_one_block_as_read() -> None:
    splitter = LineSplitter(65536)
    data = b"".join(b"%06d line\n" % i for i in range(10_000))
    block = splitter.block(data, 1.5)
    assert block is not None and block.count == 10_000 and block.marks is None
    assert block.text == data.decode()[:-1] and block.ts == 1.5


def test_stderr_lines_are_marked() -> None:
    block = LineSplitter(4, "stderr").block(b"ab\nabcdef\n", 0.0)
    assert block is not None and block.marks == bytes([1, 3, 1])
    assert block.lines() == [
        ("stderr", "ab", False),
        ("stderr", "abcd", True),
        ("stderr", "ef", False),
    ]


def test_a_block_says_whether_it_is_printable_ascii() -> None:
    """The raw bytes are looked at once; a line continued from an earlier read is plain only if
    that read was; a carriage return leaves the question to the store."""
    splitter = LineSplitter(100)
    assert plain_of(splitter.block(b"abc\ndef\n", 0.0)) is True
    assert plain_of(splitter.block(b"tab\there\n", 0.0)) is False
    assert plain_of(splitter.block("é\n".encode(), 0.0)) is False
    assert plain_of(splitter.block(b"crlf\r\n", 0.0)) is None
    assert splitter.block(b"\x1b[31m start", 0.0) is None
    assert plain_of(splitter.block(b" end\n", 0.0)) is False  # the line began unprintable
    assert plain_of(splitter.block(b"next\n", 0.0)) is True
    assert [plain_bytes(b) for b in (b"", b"a\nb", b"\x7f", b"\r")] == [True, True, False, None]


def plain_of(block: LogBlock | None) -> bool | None:
    assert block is not None
    return block.plain

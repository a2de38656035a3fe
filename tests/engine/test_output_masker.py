"""Secrets masked in an attempt's output, block by block."""

from __future__ import annotations

from engine.execution.log_block import LogBlock
from engine.run.secrets import Masker, OutputMasker
from tests.helpers import block_lines

KEY = "-----BEGIN KEY-----\nAAAASECRETLINE1\r\nBBBBSECRETLINE2\n-----END KEY-----"


def texts(batch: list[LogBlock]) -> list[str]:
    return [text for _, text, _, _ in block_lines(batch)]


def test_a_block_of_whole_lines_is_masked_at_once_and_keeps_its_lines() -> None:
    masker = OutputMasker(Masker(["hunter22", KEY]))
    block = LogBlock.of(
        [
            ("stdout", "pw=hunter22", False),
            ("stderr", "AAAASECRETLINE1", False),
            ("stdout", "ok", False),
        ],
        1.0,
    )
    (out,) = masker.blocks([block])
    assert out.count == 3 and out.marks == block.marks
    assert texts([out]) == ["pw=***", "***", "ok"]


def test_a_secret_of_several_lines_is_masked_on_each_line() -> None:
    printed = KEY.replace("\r\n", "\n").split("\n")
    (out,) = OutputMasker(Masker([KEY])).blocks([LogBlock("\n".join(printed), 4, 1.0)])
    assert texts([out]) == ["***", "***", "***", "***"]


def test_a_secret_cut_between_pieces_of_a_long_line_is_still_masked() -> None:
    masker = OutputMasker(Masker(["hunter22"]))
    first = masker.blocks([LogBlock.of([("stdout", "aaaa hun", True)], 1.0)])
    second = masker.blocks([LogBlock.of([("stdout", "ter22 bbbb", False)], 2.0)])
    assert "".join(texts(first + second)) == "aaaa *** bbbb"
    assert "hun" not in "".join(texts(first))

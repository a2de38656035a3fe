"""The ``wordstat`` command."""

from __future__ import annotations

import argparse
import sys

from wordstat import __version__
from wordstat.counter import WordCounter
from wordstat.report import as_json, as_table
from wordstat.textio import read_texts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wordstat", description="Count the words of text files."
    )
    parser.add_argument("paths", nargs="*", default=["-"], help="files to read (- for stdin)")
    parser.add_argument("--top", type=int, default=10, help="how many words to show")
    parser.add_argument("--min-length", type=int, default=1, help="ignore shorter words")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--version", action="version", version=f"wordstat {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; the exit status is 0, or 1 when a file cannot be read."""
    args = build_parser().parse_args(argv)
    counter = WordCounter(min_length=args.min_length)
    try:
        for text in read_texts(args.paths):
            counter.add(text)
    except OSError as exc:
        print(f"wordstat: {exc}", file=sys.stderr)
        return 1
    rows = counter.most_common(args.top)
    print(as_json(rows, counter.total) if args.json else as_table(rows, counter.total))
    return 0

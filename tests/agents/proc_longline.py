"""Test agent: BYTES bytes on stdout without a newline, with NUL bytes and invalid UTF-8.

Each 8-byte unit decodes to exactly 8 characters (0xff becomes one U+FFFD), so the
decoded length equals BYTES when BYTES is a multiple of 8.
"""

import sys

size = int(sys.argv[1])
unit = b"ab\x00cd\xffef"
sys.stdout.buffer.write((unit * (size // len(unit) + 1))[:size])
sys.stdout.buffer.flush()

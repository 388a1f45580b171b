"""PostgreSQL COPY (text format) from Python: field encoders and a streaming input.

``copy_in`` sends lines as they are produced, so PostgreSQL parses one chunk while Python
encodes the next and no second copy of the rows is held (model sync's staging table uses it).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from functools import lru_cache

COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_in(connection, statement: str, lines: Iterator[bytes], size: int = 1 << 16) -> None:
    """Run ``COPY … FROM STDIN`` on a SQLAlchemy connection, fed by ``lines`` (UTF-8)."""
    with connection.connection.cursor() as cursor:
        cursor.copy_expert(statement, LineReader(lines), size=size)


class LineReader(io.RawIOBase):
    """COPY input as a file over a line iterator, filling each buffer COPY offers."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        filled = 0
        while filled < len(buffer):
            if not self._pending:
                line = next(self._lines, None)
                if line is None:
                    break
                self._pending = memoryview(line)
            size = min(len(buffer) - filled, len(self._pending))
            buffer[filled:filled + size] = self._pending[:size]
            self._pending = self._pending[size:]
            filled += size
        return filled




NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def copy_value(value: str | None) -> str:
    """A text field in COPY's text format."""
    return "\\N" if value is None else value.translate(COPY_ESCAPES)


@lru_cache(maxsize=1024)
def array_literal(items: tuple[str, ...]) -> str:
    """A text[] literal, escaped for COPY (feature lists repeat: cached)."""
    quoted = (item.replace("\\", "\\\\").replace('"', '\\"') for item in items)
    return ("{" + ",".join(f'"{item}"' for item in quoted) + "}").translate(COPY_ESCAPES)

"""CSV records exactly as Go's encoding/csv reads them, for files kube-apiserver reads.

Python's csv module is more forgiving than Go's: it keeps a bare quote inside an
unquoted field (`a,b"c`), returns blank lines as empty records, and does not say
where a record starts.  A file that kube-apiserver refuses must be refused here too,
and one it accepts must mean the same thing, so this follows Go's reader with
FieldsPerRecord = -1 and no LazyQuotes, TrimLeadingSpace or Comment:

- records end at "\\n"; "\\r\\n" counts as "\\n", also inside quoted fields;
- blank lines are skipped, but a line of spaces is a record of one field;
- whitespace belongs to the field;
- a quoted field may hold commas, newlines and doubled quotes (`""`);
- a quote inside an unquoted field, text after a closing quote, or a quote that is
  never closed is an error, reported by line and column (both counted from 1).
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["CsvError", "read_records"]


class CsvError(ValueError):
    def __init__(self, line: int, column: int, problem: str) -> None:
        super().__init__(f"line {line}, column {column}: {problem}")
        self.line = line
        self.column = column
        self.problem = problem


def _lines(text: str) -> Iterator[str]:
    """Go's readLine: each line with its "\\n" ("\\r\\n" made "\\n"); a last line
    without one loses a trailing "\\r"."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            line = text[start:]
            yield line[:-1] if line.endswith("\r") else line
            return
        line = text[start : end + 1]
        yield line[:-2] + "\n" if line.endswith("\r\n") else line
        start = end + 1


def read_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(the line the record starts on, its fields) for each record in `text`."""
    lines = _lines(text)
    number = 0
    for line in lines:
        number += 1
        if line in ("", "\n"):
            continue
        start = number
        fields: list[str] = []
        pos = 0
        while True:
            if pos >= len(line) or line[pos] != '"':
                comma = line.find(",", pos)
                end = comma if comma >= 0 else len(line) - (line[-1:] == "\n")
                value = line[pos:end]
                quote = value.find('"')
                if quote >= 0:
                    raise CsvError(number, pos + quote + 1, 'bare " in non-quoted field')
                fields.append(value)
                if comma < 0:
                    break
                pos = comma + 1
                continue
            opened = (number, pos + 1)
            pos += 1
            parts: list[str] = []
            while True:
                quote = line.find('"', pos)
                if quote >= 0:
                    parts.append(line[pos:quote])
                    pos = quote + 1
                    following = line[pos : pos + 1]
                    if following == '"':
                        parts.append('"')
                        pos += 1
                    elif following in (",", "\n", ""):
                        break
                    else:
                        raise CsvError(number, quote + 1, 'extraneous or missing " in quoted field')
                else:
                    parts.append(line[pos:])
                    line = next(lines, "")
                    if not line:
                        raise CsvError(*opened, "quoted field is never closed")
                    number += 1
                    pos = 0
            fields.append("".join(parts))
            if line[pos : pos + 1] != ",":
                break
            pos += 1
        yield start, fields

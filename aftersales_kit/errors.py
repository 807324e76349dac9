"""Every error the toolkit raises on purpose. The CLI turns these into a message and an exit code.

Messages are built as ``msg = f"..."`` then ``raise XError(msg)``; each names the bad value, what
was allowed, and a hint.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One bad cell or file: where it is and what was expected."""

    file: str
    row: int | None  # spreadsheet row as Excel shows it (header is row 1); None for file-level
    column: str | None
    value: str | None
    message: str

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" 第{self.row}行 (row {self.row})"
        if self.column is not None:
            where += f" 列 {self.column}"
        value = "" if self.value is None else f": {self.value!r}"
        return f"{where}{value} — {self.message}"


MAX_SHOWN = 20


class AftersalesError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(AftersalesError):
    """Bad command-line usage or parameters (exit code 2)."""

    exit_code = 2


class DataError(AftersalesError):
    """Input data that cannot be used as it is. Carries every problem found."""

    def __init__(self, msg: str, problems: list[Problem] | None = None) -> None:
        self.problems = list(problems or [])
        super().__init__(msg)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        shown = [f"  - {p}" for p in self.problems[:MAX_SHOWN]]
        more = len(self.problems) - MAX_SHOWN
        if more > 0:
            shown.append(f"  … 另有 {more} 个问题 ({more} more problems)")
        return "\n".join([head, *shown])


class RulesError(AftersalesError):
    """An invalid rules file (names the key)."""


class UnknownStoreError(AftersalesError):
    """A store id that is not in the data (lists the stores found)."""


class ReportError(AftersalesError):
    """A report could not be rendered (names the failing cell)."""


class DeliveryError(AftersalesError):
    """An email could not be built or sent."""

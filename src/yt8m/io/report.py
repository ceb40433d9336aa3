"""What a read did: records read, records skipped (where and why), and file tails left unread.

One `ReadStats` per reader; readers in other processes or ranks send theirs back and the caller
`merge`s them, so the totals a command prints are the totals of every worker.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from .errors import RecordError


@dataclass(frozen=True)
class SkippedRecord:
    """One record left out: its file, index, byte offset (TFRecords), framed size and reason."""

    path: str | None
    index: int | None
    offset: int | None
    reason: str
    field: str | None = None
    bytes: int | None = None  # bytes it occupies in the (uncompressed) stream, when known

    @property
    def category(self) -> str:
        return self.field or "record"


@dataclass(frozen=True)
class UnreadTail:
    """The end of a file that could not be read: from `offset` on, `bytes` long (None: unknown, GZIP)."""

    path: str | None
    index: int | None
    offset: int | None
    bytes: int | None
    reason: str
    field: str | None = None

    @property
    def category(self) -> str:
        return self.field or "tail"


@dataclass
class ReadStats:
    """Counts kept while reading. With skip_corrupt the skipped records are listed, not fatal."""

    records: int = 0
    skipped: list[SkippedRecord] = field(default_factory=list)
    unread: list[UnreadTail] = field(default_factory=list)

    def skip(self, error: RecordError, size: int | None = None) -> None:
        self.skipped.append(SkippedRecord(error.path, error.index, error.offset, error.reason, error.field, size))

    def stop(self, error: RecordError, unread_bytes: int | None) -> None:
        self.unread.append(UnreadTail(error.path, error.index, error.offset, unread_bytes, error.reason, error.field))

    def merge(self, other: "ReadStats") -> "ReadStats":
        self.records += other.records
        self.skipped.extend(other.skipped)
        self.unread.extend(other.unread)
        return self

    def take(self) -> "ReadStats":
        """Everything counted since the last take (this object is emptied): the delta to send on."""
        delta = ReadStats(self.records, self.skipped, self.unread)
        self.records, self.skipped, self.unread = 0, [], []
        return delta

    def __bool__(self) -> bool:
        return bool(self.records or self.skipped or self.unread)

    def by_reason(self) -> dict[str, int]:
        """Skipped records and unread tails per reason (the field that failed: data_crc, labels, gzip ...)."""
        return dict(Counter([s.category for s in self.skipped] + [t.category for t in self.unread]))

    @property
    def unread_bytes(self) -> int | None:
        """Bytes in unread tails; None when some tail's length is unknown (damaged GZIP)."""
        sizes = [t.bytes for t in self.unread]
        return None if None in sizes else sum(sizes)

    def messages(self) -> list[str]:
        """One line per skipped record and unread tail, as a RecordError would print it."""
        lines = [str(RecordError(s.reason, path=s.path, index=s.index, offset=s.offset, field=s.field)) for s in self.skipped]
        for t in self.unread:
            size = "unknown length" if t.bytes is None else f"{t.bytes} bytes"
            lines.append(str(RecordError(f"{t.reason}; {size} unread", path=t.path, index=t.index, offset=t.offset, field=t.field)))
        return lines

    def summary_line(self) -> str:
        """'N records read, K skipped (reason: n, ...)' plus the unread tails, for logs and CLIs."""
        reasons = self.by_reason()
        line = f"{self.records} records read, {len(self.skipped)} skipped"
        if reasons:
            line += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) + ")"
        if self.unread:
            size = self.unread_bytes
            line += f", {len(self.unread)} file tails unread ({'unknown length' if size is None else f'{size} bytes'})"
        return line

    def as_dict(self) -> dict:
        return {
            "records": self.records,
            "skipped": len(self.skipped),
            "unread_tails": len(self.unread),
            "unread_bytes": self.unread_bytes,
            "by_reason": self.by_reason(),
            "skipped_records": [asdict(s) for s in self.skipped[:1000]],
            "unread": [asdict(t) for t in self.unread[:1000]],
        }

"""Errors that say where bad input is: file, record index, byte offset and field."""

from __future__ import annotations


class RecordError(ValueError):
    """A record could not be read or written as the official format defines it."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        index: int | None = None,
        offset: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path, self.index, self.offset, self.field = path, index, offset, field
        self.reason = message
        where = []
        if path is not None:
            where.append(f"file {path}")
        if index is not None:
            where.append(f"record {index}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def located(self, *, path: str | None = None, index: int | None = None, offset: int | None = None) -> "RecordError":
        """A copy with the location filled in (decoders raise before they know the file)."""
        return RecordError(
            self.reason,
            path=self.path if self.path is not None else path,
            index=self.index if self.index is not None else index,
            offset=self.offset if self.offset is not None else offset,
            field=self.field,
        )

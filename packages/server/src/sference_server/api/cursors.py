"""Cursors of list pages (``starting_after``, ``before``, ``after``...): the id of an object from
an earlier page, or 400 naming the parameter; a cursor is never compared as arbitrary text."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# The id of a batch, stream, response or event (a lower-case UUID).
IdCursor = Annotated[str | None, Query(pattern=f"^{UUID}$", description="an id from an earlier page")]
# The id of a file (``file-`` and a UUID).
FileCursor = Annotated[str | None, Query(pattern=f"^file-{UUID}$", description="a file id from an earlier page")]

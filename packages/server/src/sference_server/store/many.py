"""One statement run for many rows, compiled once per dialect and handed to the driver as is.

SQLAlchemy's ``executemany`` prepares every row's parameters in Python (≈ 10 µs a row, an eighth
of the worker's time when it records 10,000 results a second, bench/control_plane.py); the
driver's own ``executemany`` of the same SQL takes rows as plain tuples or dicts. Each type's
own conversion (a Float's) still applies; a row's values are strings, numbers and NULLs, never
an enum (pass its ``.value``); no expanding ``IN`` parameters (checked when compiled).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.sql import Executable

from .database import Tx


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters (in the statement's order where they are positional)
    positional: bool  # the driver takes a tuple a row (SQLite); otherwise a mapping (psycopg)
    constants: Mapping[str, Any]  # parameters the statement holds itself (``values(lease_owner=None)``)
    conversions: Mapping[str, Callable[[Any], Any]]  # the type's own conversion (a Float's ``float``)


class ManyStatement:
    """``build()`` the statement (on first use), then ``execute(tx, rows)`` it once per row,
    each row a mapping of its bound parameters' names to values."""

    def __init__(self, build: Callable[[], Executable]) -> None:
        self._build = build
        self._compiled: dict[str, _Compiled] = {}

    def execute(self, tx: Tx, rows: Sequence[Mapping[str, Any]]) -> None:
        """Raises ``KeyError`` if a row lacks a parameter the statement does not hold itself."""
        if not rows:
            return
        compiled = self._compiled.get(tx.dialect.name) or self._compile(tx.dialect)
        values_of = itemgetter(*compiled.names)
        if len(compiled.names) == 1:
            values = [(values_of(self._params(compiled, row)),) for row in rows]
        else:
            values = [values_of(self._params(compiled, row)) for row in rows]
        if compiled.positional:
            tx.exec_driver_sql(compiled.sql, values)
        else:
            tx.exec_driver_sql(compiled.sql, [dict(zip(compiled.names, row, strict=True)) for row in values])

    @staticmethod
    def _params(compiled: _Compiled, row: Mapping[str, Any]) -> dict[str, Any]:
        params = {**compiled.constants, **row}
        for name, convert in compiled.conversions.items():
            if params[name] is not None:
                params[name] = convert(params[name])
        return params

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._build().compile(dialect=dialect)  # type: ignore[attr-defined]
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.params)
        binds = {name: compiled.binds[name] for name in names}
        if expanding := [name for name, bind in binds.items() if bind.expanding]:
            raise TypeError(f"expanding parameters {expanding} need SQLAlchemy's processing; use Connection.execute")
        conversions = {
            name: convert for name, bind in binds.items() if (convert := bind.type.bind_processor(dialect)) is not None
        }
        constants = {name: driver_value(bind.value) for name, bind in binds.items() if not bind.required}
        result = _Compiled(
            sql=compiled.string,
            names=names,
            positional=compiled.positional,
            constants=constants,
            conversions={name: convert for name, convert in conversions.items() if name not in constants},
        )
        for name in set(conversions) & set(constants):  # a constant is converted once, here
            if constants[name] is not None:
                constants[name] = conversions[name](constants[name])
        self._compiled[dialect.name] = result
        return result


def driver_value(value: Any) -> Any:
    """A value as the driver should get it: an enum as its value (psycopg would write its name)."""
    return value.value if isinstance(value, Enum) else value

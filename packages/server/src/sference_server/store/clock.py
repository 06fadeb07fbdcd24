"""The database's clock, for times that several hosts compare: leases.

A lease is written by one host (the worker that claims or renews it) and judged by another (any
process's sweeper). Taking both times from the database server makes a host whose clock is off
unable to steal live leases or keep dead ones; everything else (deadlines, timestamps shown to
users) uses the host's clock.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Float, cast, func, literal

# Days between the Julian day epoch and 1970-01-01.
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


def database_now(dialect: str) -> ColumnElement[float]:
    """Seconds since the Unix epoch on the database server's clock, as a SQL expression."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.statement_timestamp()), Float)
    # SQLite runs in this process: the same clock as the host, read by SQL for symmetry.
    return (func.julianday("now") - literal(_UNIX_EPOCH_JULIAN_DAY)) * literal(86400.0)

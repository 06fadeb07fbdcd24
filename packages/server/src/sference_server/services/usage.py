"""Usage reports: per user, model and UTC day, for the API, the console and the operator's
command. A user reads their own; an administrator any user's, or everybody's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..domain.usage import UsageCounts, total
from ..errors import BadRequest, Forbidden, NotFound
from ..security.principal import Principal
from ..store import usage as store
from ..store import users as user_store
from ..store.database import Database
from ..store.usage import UsageDay

DEFAULT_DAYS = 30  # a report without ``since`` covers the last 30 days, today included
MAX_DAYS = 366  # a year (a leap one too) in one report
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class UsageReport:
    """The usage of days ``since``..``until`` (UTC, both included) of one user (``user_id``) or
    of all (None), of one model or all; ``rows`` by day, then username, then model."""

    since: date
    until: date
    user_id: str | None
    model: str | None
    rows: list[UsageDay]

    @property
    def totals(self) -> UsageCounts:
        return total(row.counts for row in self.rows)

    def by_day(self) -> list[tuple[date, UsageCounts]]:
        """Every day of the range, the ones without usage too (a chart's bars)."""
        days: dict[str, list[UsageCounts]] = {}
        for row in self.rows:
            days.setdefault(row.day, []).append(row.counts)
        span = (self.until - self.since).days + 1
        return [
            (day, total(days.get(day.isoformat(), ())))
            for day in (self.since + timedelta(days=offset) for offset in range(span))
        ]

    def by_model(self) -> list[tuple[str, UsageCounts]]:
        models: dict[str, list[UsageCounts]] = {}
        for row in self.rows:
            models.setdefault(row.model, []).append(row.counts)
        return [(model, total(counts)) for model, counts in sorted(models.items())]


def today() -> date:
    return datetime.now(UTC).date()


def parse_day(text: str | None, name: str) -> date | None:
    """``YYYY-MM-DD`` as a date; None when not given; 400 naming ``name`` otherwise."""
    if text is None or text == "":
        return None
    try:
        if not DATE.match(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise _bad(name, f"{name} must be a date as YYYY-MM-DD, not {text!r}") from None


def date_range(since: str | None, until: str | None) -> tuple[date, date]:
    """The days a report covers: ``until`` defaults to today (UTC), ``since`` to the 30 days that
    end on ``until``; at most ``MAX_DAYS`` days, ``since`` not after ``until``."""
    last = parse_day(until, "until") or today()
    first = parse_day(since, "since") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise _bad("since", f"since ({first}) is after until ({last})")
    if (last - first).days + 1 > MAX_DAYS:
        raise _bad("since", f"a report covers at most {MAX_DAYS} days; since {first} to until {last} is more")
    return first, last


def _bad(name: str, message: str) -> BadRequest:
    return BadRequest(message, extra=[{"loc": name, "message": message}])


class UsageService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def report(
        self,
        who: Principal,
        *,
        since: str | None = None,
        until: str | None = None,
        user_id: str | None = None,
        all_users: bool = False,
        model: str | None = None,
    ) -> UsageReport:
        """The caller's usage; an administrator's choice of ``user_id``, or of ``all_users``.
        Another user's usage is a 403 for anybody else (whether that user exists or not)."""
        if all_users and user_id is not None:
            raise _bad("user_id", "give user_id or all_users, not both")
        subject: str | None = who.user_id if user_id is None else user_id
        if all_users:
            subject = None
        if subject != who.user_id and not who.is_admin:
            raise Forbidden("only administrators may read the usage of other users")
        first, last = date_range(since, until)
        if subject is not None and subject != who.user_id:
            with self.db.read() as tx:
                if user_store.username_of(tx, subject) is None:
                    raise NotFound(f"no user with id {subject!r}")
        return self.read(first, last, user_id=subject, model=model)

    def read(self, since: date, until: date, *, user_id: str | None = None, model: str | None = None) -> UsageReport:
        """Anybody's usage, unchecked (the operator's command reads the store as it pleases)."""
        with self.db.read() as tx:
            rows = store.usage_between(
                tx, since=since.isoformat(), until=until.isoformat(), user_id=user_id, model=model
            )
        return UsageReport(since, until, user_id, model, rows)

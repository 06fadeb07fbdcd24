"""API versions: dated, like Stripe's. Every key carries one; a ``Sference-Version`` request header
overrides it per request; every response names the version that answered.

What differs between versions is written down here, once, as the fields of ``ApiVersion``; the
renderers (render/sference.py) and the one route whose behaviour differs (``POST /v1/responses``)
read them. Services never look at a version. docs/versions.md explains each difference field by
field, with what each published client shows when its key has the other version.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = "Sference-Version"
LATEST = "latest"


@dataclass(frozen=True)
class ApiVersion:
    name: str  # the date it was published, YYYY-MM-DD
    clients: str  # the published clients written against it
    # ``/v1/responses`` output items: "flat" ``{"type":"output_text","text"}`` (sference-sdk 0.0.4)
    # or OpenAI Responses "items" (``message`` with ``output_text`` parts, ``reasoning`` with a
    # summary; status ``incomplete`` with ``incomplete_details`` when cut by the length limit).
    response_output: str
    # ``POST /v1/responses`` without ``background: true`` waits for the answer (up to the server's
    # limit, then 504) instead of answering ``in_progress`` at once. Stream items always queue.
    blocking_responses: bool
    # The HTTP status of ``POST /v1/responses``: 201 in the seed, 200 since (OpenAI's).
    response_created_status: int


SEED = ApiVersion(
    name="2025-10-01",
    clients="sference-cli 0.0.4 / sference-sdk 0.0.4",
    response_output="flat",
    blocking_responses=False,
    response_created_status=201,
)
CURRENT = ApiVersion(
    name="2026-11-01",
    clients="sference-cli 0.4.0 / sference-sdk 0.3.2 and newer",
    response_output="items",
    blocking_responses=True,
    response_created_status=200,
)
VERSIONS = {version.name: version for version in (SEED, CURRENT)}
# New keys get the seed's version: the clients the seed describes keep working unchanged.
DEFAULT = SEED


class UnknownVersion(ValueError):
    pass


def resolve(name: str) -> ApiVersion:
    """A version by its date, or ``latest`` (always the newest)."""
    name = name.strip()
    if name.lower() == LATEST:
        return CURRENT
    version = VERSIONS.get(name)
    if version is None:
        raise UnknownVersion(f"unknown API version {name!r}; versions: {', '.join(VERSIONS)} (or {LATEST})")
    return version

"""The hostile-input corpus (issue 12, items 7-12): every case is a request an attacker or a broken
client may send, and the clear 4xx it gets (never a 5xx, a hang or a dropped connection), over real
HTTP on SQLite and PostgreSQL. Each case names the item it covers."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from support.console import csrf_of
from support.settings import ECHO_MODEL

from .conftest import Api

DEEP = b"[" * 30_000 + b"]" * 30_000  # 60 KB nested 30,000 deep
CHAT = {"model": ECHO_MODEL, "messages": [{"role": "user", "content": "hi"}]}
NUL = "\\u0000"  # as it is written in JSON text
SURROGATE = "\\ud800"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_escape(template: dict[str, Any], escape: str) -> bytes:
    """JSON text of ``template`` with ``@`` in its strings replaced by a raw JSON escape."""
    return json.dumps(template).replace("@", escape).encode()


@dataclass
class Case:
    item: int
    method: str
    path: str
    status: int
    says: str  # a fragment of the answer that names what is wrong and where
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    authenticated: bool = True


JSON = {"content-type": "application/json"}
CASES = {
    # 7: nesting depth, refused before any parser builds anything
    "7 deep body of POST /v1/responses": Case(7, "POST", "/v1/responses", 400, "deeper than 64", DEEP, JSON),
    "7 deep body of chat completions": Case(7, "POST", "/v1/chat/completions", 400, "deeper than 64", DEEP, JSON),
    "7 deep body of OpenAI responses": Case(7, "POST", "/openai/v1/responses", 400, "deeper than 64", DEEP, JSON),
    "7 deep body of /v1/messages": Case(7, "POST", "/v1/messages", 400, "deeper than 64", DEEP, JSON),
    "7 deep body of /v1/embeddings": Case(7, "POST", "/v1/embeddings", 400, "deeper than 64", DEEP, JSON),
    "7 deep body of /v1/decisions": Case(7, "POST", "/v1/decisions", 400, "deeper than 64", DEEP, JSON),
    "7 deep body of a stream (a body model)": Case(7, "POST", "/v1/streams", 400, "deeper than 64", DEEP, JSON),
    "7 deep body of an OpenAI batch (a body model)": Case(
        7, "POST", "/openai/v1/batches", 400, "deeper than 64", DEEP, JSON
    ),
    "7 deep body without a content type": Case(7, "POST", "/v1/streams", 400, "deeper than 64", DEEP),
    "7 deep row of an inline batch": Case(
        7,
        "POST",
        "/v1/batches",
        400,
        "deeper than 64",
        json.dumps({"requests": [{"custom_id": "a", "body": "@"}]}).replace('"@"', nested(100)).encode(),
        JSON,
    ),
    "7 deep device sign-in body": Case(
        7, "POST", "/v1/oauth/device_code", 400, "deeper than 64", DEEP, JSON, authenticated=False
    ),
    # 10: NUL characters and lone surrogates, refused by the name of the field
    "10 NUL in message content": Case(
        10,
        "POST",
        "/v1/chat/completions",
        400,
        "body.messages[0].content",
        with_escape({**CHAT, "messages": [{"role": "user", "content": "a@b"}]}, NUL),
        JSON,
    ),
    "10 lone surrogate in message content": Case(
        10,
        "POST",
        "/v1/responses",
        400,
        "body.input",
        with_escape({"model": ECHO_MODEL, "input": "a@"}, SURROGATE),
        JSON,
    ),
    "10 NUL in a metadata value": Case(
        10,
        "POST",
        "/v1/responses",
        400,
        "body.metadata.label",
        with_escape({"model": ECHO_MODEL, "input": "x", "metadata": {"label": "@"}}, NUL),
        JSON,
    ),
    "10 NUL in a metadata key": Case(
        10,
        "POST",
        "/v1/responses",
        400,
        "body.metadata",
        with_escape({"model": ECHO_MODEL, "input": "x", "metadata": {"k@": "v"}}, NUL),
        JSON,
    ),
    "10 NUL in an Anthropic message": Case(
        10,
        "POST",
        "/v1/messages",
        400,
        "body.messages[0].content",
        with_escape({**CHAT, "max_tokens": 5, "messages": [{"role": "user", "content": "@"}]}, NUL),
        JSON,
    ),
    "10 NUL in a stream name (a body model)": Case(
        10, "POST", "/v1/streams", 400, "body.name", with_escape({"name": "a@"}, NUL), JSON
    ),
    "10 lone surrogate in a stream name": Case(
        10, "POST", "/v1/streams", 400, "body.name", with_escape({"name": "a@"}, "\\udfff"), JSON
    ),
    "10 NUL in OpenAI batch metadata": Case(
        10,
        "POST",
        "/openai/v1/batches",
        400,
        "metadata",
        with_escape({"input_file_id": "file-x", "endpoint": "/v1/chat/completions", "metadata": {"k": "@"}}, NUL),
        JSON,
    ),
    "10 NUL in the custom_id of an inline batch row": Case(
        10,
        "POST",
        "/v1/batches",
        400,
        "requests[1].custom_id",
        with_escape({"requests": [{"custom_id": "a", "body": CHAT}, {"custom_id": "b@", "body": CHAT}]}, NUL),
        JSON,
    ),
    "10 NUL in a device label": Case(
        10,
        "POST",
        "/v1/oauth/device_code",
        400,
        "device_label",
        with_escape({"client_id": "sference-cli", "device_label": "@"}, NUL),
        JSON,
        authenticated=False,
    ),
    "10 NUL in a form-encoded device sign-in field": Case(
        10,
        "POST",
        "/v1/oauth/device_code",
        400,
        "client_id",
        b"client_id=a%00b",
        {"content-type": "application/x-www-form-urlencoded"},
        authenticated=False,
    ),
    "10 NUL in a path parameter": Case(10, "GET", "/v1/batches/a%00b", 400, "path"),
    "10 NUL in a query parameter": Case(10, "GET", "/v1/responses?stream_id=a%00b", 400, "stream_id"),
    "10 NUL in a console sign-in form": Case(
        10,
        "POST",
        "/login",
        400,
        "username",
        b"username=ad%00min&password=x&csrf_token=x",
        {"content-type": "application/x-www-form-urlencoded"},
        authenticated=False,
    ),
    # 11: cursors that are not ids; credentials that are not ASCII
    "11 events starting_after that is not an id": Case(
        11, "GET", "/v1/responses/events?starting_after=nope", 400, "starting_after"
    ),
    "11 events ending_before that is not an id": Case(
        11, "GET", "/v1/responses/events?ending_before=1%27%20OR%201=1", 400, "ending_before"
    ),
    "11 batches before that is not an id": Case(11, "GET", "/v1/batches?before=zzz", 400, "before"),
    "11 streams before that is not an id": Case(11, "GET", "/v1/streams?before=zzz", 400, "before"),
    "11 responses after that is not an id": Case(11, "GET", "/v1/responses?after=zzz", 400, "after"),
    "11 OpenAI files after that is not an id": Case(11, "GET", "/openai/v1/files?after=zzz", 400, "after"),
    "11 OpenAI batches after that is not an id": Case(11, "GET", "/openai/v1/batches?after=zzz", 400, "after"),
}


def send(api: Api, case: Case, key: str | None) -> httpx.Response:
    headers = {**case.headers, **({"authorization": f"Bearer {key}"} if key and case.authenticated else {})}
    with httpx.Client(base_url=api.url, timeout=30) as client:
        # httpx would normalise a raw path; send the bytes as written
        request = client.build_request(case.method, case.path, content=case.body, headers=headers)
        request.url = request.url.copy_with(raw_path=case.path.encode())
        return client.send(request)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_requests_get_a_clear_4xx(api: Api, case: Case) -> None:
    _, key = api._make_user("ann")
    response = send(api, case, key)
    assert response.status_code == case.status, response.text
    assert case.says in response.text, response.text


def test_7_depth_64_is_accepted(api: Api) -> None:
    client = api.user("ann")
    body = json.dumps({**CHAT, "background": True, "metadata": {"deep": "@"}}).replace('"@"', nested(62))
    assert client.post("/v1/responses", content=body, headers=JSON).status_code == 201  # 64 levels in all
    too_deep = body.replace(nested(62), nested(63))
    assert "deeper than 64" in client.post("/v1/responses", content=too_deep, headers=JSON).text


def test_7_a_deep_body_arriving_in_pieces_is_refused_as_it_arrives(api: Api) -> None:
    client = api.user("ann")

    def pieces() -> Iterator[bytes]:
        yield b'{"name": "s", "window": '
        for _ in range(100):
            yield b"[" * 100

    response = client.post("/v1/streams", content=pieces(), headers=JSON)  # chunked: no content-length
    assert response.status_code == 400 and "deeper than 64" in response.json()["detail"]


# -- 8: body limits, enforced before authentication and while reading --------------------------

SMALL = {"max_request_bytes": 2000, "max_form_bytes": 1000, "max_batch_bytes": 20_000}
LIMITED = [
    ("POST", "/v1/responses", "SFERENCE_MAX_REQUEST_BYTES", 2001),
    ("POST", "/v1/chat/completions", "SFERENCE_MAX_REQUEST_BYTES", 2001),
    ("POST", "/openai/v1/chat/completions", "SFERENCE_MAX_REQUEST_BYTES", 2001),
    ("POST", "/openai/v1/responses", "SFERENCE_MAX_REQUEST_BYTES", 2001),
    ("POST", "/v1/streams", "SFERENCE_MAX_REQUEST_BYTES", 2001),
    ("POST", "/openai/v1/batches", "SFERENCE_MAX_REQUEST_BYTES", 2001),
    ("POST", "/v1/messages", "SFERENCE_MAX_REQUEST_BYTES", 2001),
    ("POST", "/v1/oauth/device_code", "SFERENCE_MAX_FORM_BYTES", 1001),
    ("POST", "/v1/oauth/token", "SFERENCE_MAX_FORM_BYTES", 1001),
    ("POST", "/login", "SFERENCE_MAX_FORM_BYTES", 1001),
    ("POST", "/api-keys", "SFERENCE_MAX_FORM_BYTES", 1001),
    ("POST", "/v1/batches", "SFERENCE_MAX_BATCH_BYTES", 20_001),
    ("POST", "/openai/v1/files", "SFERENCE_MAX_BATCH_BYTES", 20_001 + 64 * 1024),
]
# Routes that read the body (a console page without a session answers before reading it)
READ_FIRST = [route for route in LIMITED if route[1] != "/api-keys"]


@pytest.mark.parametrize("server_overrides", [SMALL])
@pytest.mark.parametrize(("method", "path", "setting", "size"), LIMITED, ids=[f"8 {m} {p}" for m, p, *_ in LIMITED])
def test_8_a_declared_length_above_the_limit_is_refused_before_authentication(
    api: Api, method: str, path: str, setting: str, size: int
) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as anonymous:  # no key: the size is refused first
        response = anonymous.request(method, path, content=b"x" * size, headers=JSON)
    assert response.status_code == 413, response.text
    assert setting in response.text


@pytest.mark.parametrize("server_overrides", [SMALL])
@pytest.mark.parametrize(
    ("method", "path", "setting", "size"), READ_FIRST, ids=[f"8 {m} {p}" for m, p, *_ in READ_FIRST]
)
def test_8_a_body_without_length_is_cut_off_at_the_limit(
    api: Api, method: str, path: str, setting: str, size: int
) -> None:
    opening = b""
    content_type = "application/json"
    if path.endswith("/files"):
        content_type = "multipart/form-data; boundary=x"
        opening = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n'
    elif not path.startswith(("/v1/", "/openai/")):
        content_type = "application/x-www-form-urlencoded"  # a console form

    def pieces() -> Iterator[bytes]:
        yield opening
        for _ in range(10_000):  # far more than the limit: the answer comes before the end
            yield b" " * 1000

    client = api.user("ann")
    response = client.request(method, path, content=pieces(), headers={"content-type": content_type})
    assert response.status_code == 413, response.text
    assert setting in response.text


@pytest.mark.parametrize("server_overrides", [SMALL])
def test_8_bodies_within_their_limits_still_work(api: Api) -> None:
    client = api.user("ann")
    assert client.post("/v1/streams", json={"name": "s" * 200}).status_code == 201
    lines = "\n".join(
        json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": CHAT})
        for i in range(100)
    ).encode()  # ~13 KB: above the request limit, within the batch limit
    uploaded = client.post("/openai/v1/files", files={"file": ("in.jsonl", lines)}, data={"purpose": "batch"})
    assert uploaded.status_code == 200, uploaded.text
    page = httpx.get(f"{api.url}/login")
    signed = httpx.post(
        f"{api.url}/login",
        data={"username": "ann", "password": "wrong", "csrf_token": csrf_of(page.text)},
        cookies=page.cookies,
    )
    assert signed.status_code != 413


# -- 9: lines of JSONL files -------------------------------------------------------------------


def batch_line(custom_id: str, content: str = "hi") -> bytes:
    body = {**CHAT, "messages": [{"role": "user", "content": content}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}).encode()


def create_openai_batch(client: httpx.Client, content: bytes, purpose: str = "batch") -> httpx.Response:
    uploaded = client.post("/openai/v1/files", files={"file": ("in.jsonl", content)}, data={"purpose": purpose})
    assert uploaded.status_code == 200, uploaded.text
    return client.post(
        "/openai/v1/batches", json={"input_file_id": uploaded.json()["id"], "endpoint": "/v1/chat/completions"}
    )


@pytest.mark.parametrize("server_overrides", [{"max_line_bytes": 1000}])
def test_9_an_upload_for_batches_with_a_line_over_the_limit_is_refused_naming_it(api: Api) -> None:
    client = api.user("ann")
    content = batch_line("a") + b"\n" + batch_line("b", "x" * 2000) + b"\n"
    response = client.post("/openai/v1/files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
    assert response.status_code == 400, response.text
    assert "line 2" in response.text and "SFERENCE_MAX_LINE_BYTES" in response.text
    no_newline = client.post("/openai/v1/files", files={"file": ("in.jsonl", b"x" * 5000)}, data={"purpose": "batch"})
    assert no_newline.status_code == 400 and "line 1" in no_newline.text
    assert client.get("/openai/v1/files").json()["data"] == []


@pytest.mark.parametrize("server_overrides", [{"max_line_bytes": 1000}])
def test_9_a_batch_from_a_file_with_a_long_line_fails_naming_the_line(api: Api) -> None:
    client = api.user("ann")
    content = batch_line("a") + b"\n" + batch_line("b") + b"\n" + b"x" * 5000  # no final newline
    batch = create_openai_batch(client, content, purpose="user_data")  # not checked at upload
    assert batch.status_code == 200, batch.text
    errors = batch.json()["errors"]["data"]
    assert batch.json()["status"] == "failed"
    assert [(e["code"], e["line"]) for e in errors] == [("line_too_long", 3)]


def test_9_and_10_bad_lines_of_a_batch_input_file_are_named(api: Api) -> None:
    client = api.user("ann")
    lines = [
        batch_line("ok"),
        json.dumps({"custom_id": "deep", "method": "POST", "url": "/v1/chat/completions", "body": "@"})
        .replace('"@"', nested(200))
        .encode(),
        batch_line("nul@").replace(b"@", NUL.encode()),
        batch_line("sur", "x@").replace(b"@", SURROGATE.encode()),
    ]
    batch = create_openai_batch(client, b"\n".join(lines))
    errors = {e["line"]: e for e in batch.json()["errors"]["data"]}
    assert batch.json()["status"] == "failed"
    assert "deeper than 64" in errors[2]["message"]
    assert errors[3]["param"] == "custom_id" and "NUL" in errors[3]["message"]
    assert errors[4]["param"] == "body.messages[0].content"


# -- 10: what the server stores comes back intact ----------------------------------------------


def test_10_unusual_but_valid_text_is_stored_and_returned_intact(api: Api) -> None:
    client = api.user("ann")
    text = "tab\t, newline\n, emoji \U0001f600 (a surrogate pair in JSON), escaped \\u0000, é, \u2028"
    body = json.dumps({"model": ECHO_MODEL, "input": text, "background": True, "metadata": {"k": text[:200]}})
    created = client.post("/v1/responses", content=body, headers=JSON)
    assert created.status_code == 201, created.text
    stored = client.get(f"/v1/responses/{created.json()['id']}").json()
    assert stored["metadata"]["k"] == text[:200]
    stream = client.post("/v1/streams", json={"name": "\U0001f600 \\u0000"})
    assert stream.status_code == 201 and stream.json()["name"] == "\U0001f600 \\u0000"


# -- 11: credentials that are not ASCII --------------------------------------------------------

NON_ASCII_CREDENTIALS = {
    "11 Bearer token with Latin-1 bytes": {b"authorization": b"Bearer sk_\xe9\xff"},
    "11 Bearer token with UTF-8 bytes": {b"authorization": "Bearer sk_é😀".encode()},
    "11 X-API-Key with UTF-8 bytes": {b"x-api-key": "sk_é".encode()},
    "11 access token with UTF-8 bytes": {b"authorization": "Bearer sfa_é".encode()},
    "11 basic auth with non-ASCII bytes": {b"authorization": b"Basic \xc3\xa9\xc3\xa9"},
}


@pytest.mark.parametrize("headers", NON_ASCII_CREDENTIALS.values(), ids=NON_ASCII_CREDENTIALS.keys())
def test_11_non_ascii_credentials_are_refused_with_401(api: Api, headers: dict[bytes, bytes]) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        for path in ("/v1/batches", "/openai/v1/models", "/v1/responses/events"):
            response = client.get(path, headers=headers)
            assert response.status_code == 401, (path, response.text)


def test_11_ids_are_accepted_as_cursors(api: Api) -> None:
    client = api.user("ann")
    some_id = "0190a3c5-0000-7000-8000-000000000000"
    assert client.get("/v1/responses/events", params={"starting_after": some_id}).status_code == 200
    assert client.get("/v1/batches", params={"before": some_id}).status_code == 200
    assert client.get("/openai/v1/files", params={"after": f"file-{some_id}"}).status_code == 200


# -- 12: Content-Disposition of downloads ------------------------------------------------------

FILENAMES = {
    "12 quotes": 'a "quoted" name.jsonl',
    "12 non-ASCII": "données été 😀.jsonl",
    "12 semicolon and equals": "a; filename=evil.exe.jsonl",
    "12 backslash and percent": "a\\b %41.jsonl",
    "12 control characters": "a\tb\x7fc.jsonl",
}


def disposition_filename(header: str) -> str:
    """The exact name (``filename*``, RFC 8187) of an ``attachment`` header."""
    found = re.fullmatch(r'attachment; filename="[ !#-$&-:<-\[\]-~]*"; filename\*=UTF-8\'\'([!-~]+)', header)
    assert found, header
    return unquote(found.group(1), encoding="utf-8", errors="strict")


@pytest.mark.parametrize("filename", FILENAMES.values(), ids=FILENAMES.keys())
def test_12_downloads_name_any_file_safely(api: Api, filename: str) -> None:
    client = api.user("ann")
    files = {"file": (filename, io.BytesIO(batch_line("a")))}
    uploaded = client.post("/openai/v1/files", files=files, data={"purpose": "user_data"})
    assert uploaded.status_code == 200, uploaded.text
    response = client.get(f"/openai/v1/files/{uploaded.json()['id']}/content")
    assert response.status_code == 200
    assert disposition_filename(response.headers["content-disposition"]) == uploaded.json()["filename"]


def test_12_results_downloads_have_a_disposition(api: Api) -> None:
    client = api.user("ann")
    batch = client.post("/v1/batches", json={"requests": [{"custom_id": "a", "body": CHAT}]}).json()
    deadline = time.monotonic() + 30
    while client.get(f"/v1/batches/{batch['id']}").json()["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    response = client.get(f"/v1/batches/{batch['id']}/results.jsonl")
    assert disposition_filename(response.headers["content-disposition"]) == f"{batch['id']}.jsonl"


def test_11_a_non_ascii_csrf_token_is_refused_not_an_error(api: Api) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        page = client.get("/login")
        assert page.status_code == 200
        form = {"username": "ann", "password": "x", "csrf_token": "é" + csrf_of(page.text)[1:]}
        response = client.post("/login", data=form)
        assert response.status_code == 403, response.text


@pytest.mark.parametrize(
    "field",
    [b"\xff\xfe not UTF-8", b"a\x00b"],
    ids=["10 a multipart console form with bytes that are not UTF-8", "10 a multipart console form with a NUL"],
)
def test_10_multipart_console_forms_with_bad_bytes_get_a_4xx(api: Api, field: bytes) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        csrf = csrf_of(client.get("/login").text)
        parts = b"".join(
            b'--x\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name, value)
            for name, value in ((b"username", field), (b"password", b"x"), (b"csrf_token", csrf.encode()))
        )
        response = client.post(
            "/login", content=parts + b"--x--\r\n", headers={"content-type": "multipart/form-data; boundary=x"}
        )
        assert 400 <= response.status_code < 500, response.text

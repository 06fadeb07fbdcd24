"""Results of a batch bigger than one send group (``SEND_ROWS``): every row once, in input
order, the same in the JSON document and in JSON Lines."""

from __future__ import annotations

import json

from sference_server.render.sference import SEND_ROWS
from support.batches import chat_row, document, wait_terminal

from .conftest import Api


def test_results_of_several_send_groups_are_whole_and_in_order(api: Api) -> None:
    client = api.user("ann")
    n = 2 * SEND_ROWS + 7
    batch = client.post("/v1/batches", json=document([chat_row(f"r{i}", f"row {i}") for i in range(n)])).json()
    assert wait_terminal(client, batch["id"])["status"] == "completed"
    lines = client.get(f"/v1/batches/{batch['id']}/results.jsonl").text
    assert lines.endswith("\n") and "\n\n" not in lines
    from_lines = [json.loads(line) for line in lines.splitlines()]
    from_document = client.get(f"/v1/batches/{batch['id']}/results").json()["results"]
    assert [row["custom_id"] for row in from_lines] == [f"r{i}" for i in range(n)]
    assert from_document == from_lines
    assert from_lines[-1]["result_json"]["choices"][0]["message"]["content"] == f"echo: row {n - 1}"

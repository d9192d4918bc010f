"""A raw scan of the SQLite file finds no message body, attribute or customer address."""

from __future__ import annotations

import json
import uuid

from tests.conftest import StackFactory, eventually, new_phone


def test_database_file_holds_no_plaintext(make_stack: StackFactory) -> None:
    stack = make_stack()
    marker = f"marker-{uuid.uuid4().hex}"
    customer = new_phone()
    with stack.http() as http:
        service = stack.create_service(http)
        flow = stack.create_flex_flow(http, service)
        params = stack.sms_params(flow["contact_identity"], customer, f"body {marker}")
        assert stack.post_webhook(http, params).status_code == 200
        rest = http.post(
            f"/v2/Services/{service}/Channels",
            data={"FriendlyName": f"name {marker}", "Attributes": json.dumps({"note": marker})},
        ).json()["sid"]
        url = f"/v2/Services/{service}/Channels/{rest}/Messages"
        posted = http.post(url, data={"Body": f"rest {marker}", "Attributes": json.dumps({"x": marker})})
        assert posted.status_code == 201
        assert (
            http.post(f"/v2/Services/{service}/Channels/{rest}/Members", data={"Identity": customer}).status_code == 201
        )

        def stored() -> None:
            channels = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            assert sum(c["messages_count"] for c in channels) == 2

        eventually(stored)
        # Readable through the API...
        assert marker in json.dumps(http.get(url).json())
    raw = b"".join(p.read_bytes() for p in stack.settings.data_dir.glob("switchboard.db*"))
    assert raw, "the database file is where the settings say"
    # ...and nowhere in the file, WAL included.
    assert marker.encode() not in raw
    assert customer.encode() not in raw
    assert customer.lstrip("+").encode() not in raw

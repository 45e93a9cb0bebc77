"""The notifications WebSocket through a real server: the Procfile's ``web`` process (gunicorn,
Roster's worker, two workers) and real WebSocket clients (``websockets``), once on the
embedded defaults (SQLite, file cache, no channel layer: the web processes poll) and once
with a redis-server of the test's own (the Redis channel layer). Rows are made, and
notifications sent, by another process (tests/notifications/ws_side.py) against the server's
database.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.servers import procfile_web, run_side

SIDE = Path(__file__).with_name("ws_side.py")


def _side(env: dict, *args: str) -> dict:
    return run_side(SIDE, env, *args)


@pytest.fixture(scope="module", params=["embedded", "redis"])
def server(request, tmp_path_factory):
    var = tmp_path_factory.mktemp("ws")
    with procfile_web(
        var, workers=2, redis=request.param == "redis", prepare=lambda env: _side(env, "setup")
    ) as served:
        base, env, made = served
        yield {"url": base.replace("http", "ws", 1) + "/ws/v1/notifications", "env": env, **made}


def _recv(ws, seconds: float = 5) -> dict:
    return json.loads(ws.recv(timeout=seconds))


def _open_with_token(server, token: str):
    ws = connect(server["url"], open_timeout=10)
    ws.send(json.dumps({"type": "auth", "token": token}))
    return ws


def _closed_code(ws, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    with pytest.raises(ConnectionClosed):
        while time.monotonic() < deadline:
            ws.recv(timeout=deadline - time.monotonic())
    return ws.protocol.close_rcvd.code


def test_token_connects_and_a_notification_from_another_process_arrives_within_2_s(server):
    with _open_with_token(server, server["token"]) as ws:
        hello = _recv(ws)
        assert hello["type"] == "connection" and hello["status"] == "connected"
        assert hello["session_id"] and hello["server_time"]
        first = _side(server["env"], "notify", server["ada"], "First")["id"]
        got = _recv(ws, 5)
        arrived = datetime.now().astimezone()
        assert got["type"] == "notification"
        assert got["notification"]["id"] == first
        assert got["notification"]["title"] == "First"
        made = datetime.fromisoformat(got["notification"]["created_at"])
        assert (arrived - made).total_seconds() < 2
        second = _side(server["env"], "notify", server["ada"], "Second")["id"]
        assert _recv(ws)["notification"]["id"] == second

    # A new socket gets what it missed after the first one, and only that.
    with _open_with_token(server, server["token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        ws.send(json.dumps({"type": "resume", "after": first}))
        replayed = _recv(ws)
        assert replayed["notification"]["id"] == second
        ws.send(json.dumps({"type": "resume", "after": second}))
        ws.send(json.dumps({"type": "resume", "after": "not-an-id"}))
        assert _recv(ws) == {
            "type": "error",
            "code": "invalid_message",
            "detail": "after is a notification id.",
        }


def test_api_key_needs_the_notifications_read_scope(server):
    with _open_with_token(server, server["key"]) as ws:
        assert _recv(ws)["type"] == "connection"
    with _open_with_token(server, server["key_without_scope"]) as ws:
        assert _recv(ws)["code"] == "insufficient_scope"
        assert _closed_code(ws, 5) == 4403
    with _open_with_token(server, "not a token") as ws:
        assert _recv(ws)["code"] == "token_invalid"
        assert _closed_code(ws, 5) == 4401


def _page_socket(server):
    """A socket as the pages open it: same origin, the session cookie."""
    host = server["url"].split("/")[2]
    cookie = {"Cookie": f"sessionid={server['cookie']}"}
    return connect(
        server["url"], origin=f"http://{host}", additional_headers=cookie, open_timeout=10
    )


def test_session_cookie_of_a_same_origin_page_and_a_foreign_origin(server):
    cookie = {"Cookie": f"sessionid={server['cookie']}"}
    with _page_socket(server) as ws:
        assert _recv(ws)["type"] == "connection"
    with pytest.raises(InvalidStatus) as refused:
        connect(server["url"], origin="http://evil.example", additional_headers=cookie)
    assert refused.value.response.status_code == 403


def test_a_page_socket_gives_each_notification_its_time_as_the_pages_show_it(server):
    with _page_socket(server) as ws:
        assert _recv(ws)["type"] == "connection"
        made = _side(server["env"], "notify", server["ada"], "Timed")["id"]
        got = _recv(ws, 10)["notification"]
    assert got["id"] == made
    tokyo = datetime.fromisoformat(got["created_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
    clock = tokyo.strftime("%I:%M %p").lstrip("0")
    assert got["when"] == f"{tokyo:%d/%m/%Y} {clock} JST"
    # A program's socket (a token) gets the data only.
    with _open_with_token(server, server["token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        _side(server["env"], "notify", server["ada"], "Untimed")
        assert "when" not in _recv(ws, 10)["notification"]


def test_a_socket_that_does_not_authenticate_within_10_s_is_closed(server):
    with connect(server["url"], open_timeout=10) as ws:
        ws.send(json.dumps({"type": "subscribe", "channel": f"org:{server['org']}"}))
        assert _recv(ws)["code"] == "not_authenticated"
        started = time.monotonic()
        assert _closed_code(ws, 15) == 4401
        assert 8 < time.monotonic() - started < 12


def test_subscribe_is_for_members_only(server):
    channel = f"org:{server['org']}"
    with _open_with_token(server, server["token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        assert _recv(ws) == {"type": "subscribed", "channel": channel}
        ws.send(json.dumps({"type": "subscribe", "channel": "org:nope"}))
        assert _recv(ws)["code"] == "invalid_channel"
    with _open_with_token(server, server["bob_token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        assert _recv(ws) == {
            "type": "error",
            "code": "forbidden",
            "detail": "Only members may subscribe.",
            "channel": channel,
        }


def test_more_than_10_messages_a_second_close_4429(server):
    with _open_with_token(server, server["bob_token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        for _ in range(11):
            ws.send(json.dumps({"type": "unsubscribe", "channel": f"org:{server['org']}"}))
        errors = []
        with pytest.raises(ConnectionClosed):
            while True:
                errors.append(_recv(ws))
        assert errors[-1]["code"] == "rate_limited"
        assert ws.protocol.close_rcvd.code == 4429


def test_a_revoked_session_closes_its_socket_4401_within_30_s(server):
    with _open_with_token(server, server["doomed_token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        _side(server["env"], "revoke", server["doomed_session"])
        revoked = time.monotonic()
        messages = []
        with pytest.raises(ConnectionClosed):
            while True:
                messages.append(_recv(ws, 35))
        assert time.monotonic() - revoked < 30
        assert messages[-1]["code"] == "token_revoked"
        assert ws.protocol.close_rcvd.code == 4401


def test_heartbeat_counts_the_members_of_the_callers_organizations_online(server):
    with (
        _open_with_token(server, server["token"]) as ada,
        _open_with_token(server, server["bob_token"]) as bob,
    ):
        assert _recv(ada)["type"] == "connection"
        assert _recv(bob)["type"] == "connection"
        beat = _recv(ada, 30)
        # Ada is her organization's only member; Bob, online too, is not in it.
        assert beat["type"] == "heartbeat" and beat["server_time"]
        assert beat["online_users"] == 1


def test_a_notification_message_has_the_rights_of_the_http_send(server):
    message = {"title": "Standup", "message": "In five minutes", "priority": "high"}
    with _open_with_token(server, server["bob_token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        ws.send(
            json.dumps(
                {"type": "notification", "target_user": server["ada"], "notification": message}
            )
        )
        assert _recv(ws)["type"] == "error"
        ws.send(json.dumps({"type": "notification", "target_user": server["ada"]}))
        assert _recv(ws)["code"] == "invalid_message"
    with _open_with_token(server, server["token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        ws.send(
            json.dumps(
                {"type": "notification", "target_user": server["ada"], "notification": message}
            )
        )
        received = [_recv(ws), _recv(ws)]
        assert {"type": "sent", "delivered_to": 1} in received
        pushed = next(m for m in received if m["type"] == "notification")["notification"]
        assert pushed["title"] == "Standup"
        assert pushed["priority"] == "high"
        assert pushed["from_user"] == server["ada"]


def test_a_suspended_account_closes_its_socket_4403(server):
    with _open_with_token(server, server["cy_token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        _side(server["env"], "suspend", server["cy"])
        suspended = time.monotonic()
        messages = []
        with pytest.raises(ConnectionClosed):
            while True:
                messages.append(_recv(ws, 35))
        assert time.monotonic() - suspended < 30
        assert messages[-1]["code"] == "account_suspended"
        assert ws.protocol.close_rcvd.code == 4403


def test_activity_goes_to_the_team_channels_of_a_caller_who_may_send(server):
    channel = f"team:{server['team']}"
    activity = {"type": "activity", "activity": {"action": "deployed", "resource": "api"}}
    with _open_with_token(server, server["token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        assert _recv(ws) == {"type": "subscribed", "channel": channel}
        ws.send(json.dumps(activity))
        received = [_recv(ws), _recv(ws)]
        assert {"type": "sent", "delivered_to": 1} in received
        assert {
            "type": "event",
            "channel": channel,
            "event": "activity",
            "data": {"user": server["ada"], "action": "deployed", "resource": "api"},
        } in received
    with _open_with_token(server, server["bob_token"]) as ws:
        assert _recv(ws)["type"] == "connection"
        ws.send(json.dumps({"type": "subscribe", "channel": channel}))
        assert _recv(ws)["code"] == "forbidden"
        ws.send(json.dumps(activity))
        assert _recv(ws)["code"] == "forbidden"

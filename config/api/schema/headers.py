"""The response headers every operation documents, and the conditional GET (``ETag``)."""

from __future__ import annotations

RESPONSE_HEADERS = {
    "X-Request-ID": {
        "description": "The request's id (a valid incoming `X-Request-ID` is echoed). The "
        "same id is in the logs and in the audit events the request wrote.",
        "required": True,
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {
        "description": "Requests allowed in the current window for this caller (the "
        "tightest limit in force). Absent when rate limiting is off.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Seconds until the current window ends.",
        "schema": {"type": "integer"},
    },
}
RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "required": True,
    "schema": {"type": "integer"},
}
WWW_AUTHENTICATE = {
    "description": 'How to authenticate: `Bearer realm="api"`.',
    "required": True,
    "schema": {"type": "string"},
}


ETAG = {
    "description": "A hash of the body. Send it back as `If-None-Match` to get 304 when "
    "nothing changed.",
    "required": True,
    "schema": {"type": "string"},
}


def conditional_get(operation: dict) -> None:
    """Every GET answers with an ``ETag`` and honours ``If-None-Match`` (Django's
    ConditionalGetMiddleware): 304 with no body when the representation is unchanged."""
    operation.setdefault("parameters", []).append(
        {
            "in": "header",
            "name": "If-None-Match",
            "required": False,
            "schema": {"type": "string"},
            "description": "The `ETag` of a copy you hold; 304 when it is still current.",
        }
    )
    responses = operation.setdefault("responses", {})
    for status in ("200",):
        if status in responses:
            responses[status].setdefault("headers", {})["ETag"] = header_ref("ETag")
    responses["304"] = {
        "description": "Not modified: the copy named by `If-None-Match` is current.",
        "headers": {"ETag": header_ref("ETag")},
    }


def header_component(name: str) -> str:
    return name.replace("-", "")


def header_ref(name: str) -> dict:
    return {"$ref": f"#/components/headers/{header_component(name)}"}

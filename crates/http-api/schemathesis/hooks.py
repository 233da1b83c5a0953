"""schemathesis hooks for seqrd's API (see schemathesis.toml)."""

import hashlib
import json
import os
import re

import schemathesis

TERMINAL = os.environ["SEQRD_TERMINAL"]
# The published schema of a terminal id (`TerminalId`).
TERMINAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The published schema of an Idempotency-Key (`IdempotencyKey`).
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")
# The codes of the body parser: a schema-valid body must never get one.
PARSER_CODES = {"invalid_body", "unknown_field", "malformed_json", "duplicate_key"}


@schemathesis.hook
def before_call(context, case, kwargs):
    """Issues invoices at the registered terminal, so that the engine (and SEQR) is reached.

    Only a terminal id that is itself valid is replaced (any well-formed id of no register would answer 422
    `unknown_terminal`); a malformed one, in a negative case, is sent as generated.
    """
    if case.operation.label == "POST /v1/invoices" and isinstance(case.body, dict):
        terminal = case.body.get("terminal_id")
        if isinstance(terminal, str) and TERMINAL_ID.fullmatch(terminal):
            case.body["terminal_id"] = TERMINAL
    unique_idempotency_key(case)
    if case.operation.label == "GET /v1/events" and isinstance(case.query, dict):
        # A long-poll waits up to 30 s for an event that may never come: the run reads at once instead.
        wait = case.query.get("wait")
        if isinstance(wait, int) and not isinstance(wait, bool) and 0 <= wait <= 30:
            case.query["wait"] = 0
        elif isinstance(wait, str) and wait.isdigit() and int(wait) <= 30:
            case.query["wait"] = "0"


def unique_idempotency_key(case):
    """Makes a generated Idempotency-Key name one request, as a client's key does.

    The one documented exception to "a schema-valid request is accepted": the same key with another request is
    refused, 422 `idempotency_key_reused` (tests/it covers it). Generated keys repeat ("0", "A", ...), so each
    valid key gets the digest of its request appended; the same request with the same key still replays its
    stored answer. A malformed key (a negative case) is sent as generated.
    """
    headers = case.headers or {}
    name = next((n for n in headers if n.lower() == "idempotency-key"), None)
    key = headers.get(name) if name else None
    if not isinstance(key, str) or len(key) > 255 or not IDEMPOTENCY_KEY.fullmatch(key):
        return
    request = json.dumps([case.method, case.path, case.path_parameters, case.body], sort_keys=True, default=repr)
    digest = hashlib.sha256(request.encode()).hexdigest()[:32]
    headers[name] = f"{key[:200]}.{digest}"


@schemathesis.check
def schema_valid_bodies_parse(ctx, response, case):
    """A body the document accepts is never refused by the server's parser (see schemathesis.toml)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 422):
        return None
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    if code in PARSER_CODES:
        raise AssertionError(f"a schema-valid request was refused by the parser: {response.status_code} {code}")
    return None

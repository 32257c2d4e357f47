"""`/api/v1/alert-rules` and `/api/v1/alerts`: rules are changed with an admin token and seen with a
read token; alerts, with how their notifications went, are seen with a read token.

A webhook URL often carries its receiver's secret (chat hooks do): only admin tokens see whole URLs;
a read token sees the scheme and host.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from ingest.alerts.engine import MQTT_TARGET
from ingest.alerts.rules import RULE_NAME, Rule
from ingest.alerts.store import Alert, Notification
from ingest.api.auth import AUTH_RESPONSES, AdminToken, require
from ingest.api.context import ApiContext, api_context
from ingest.api.routes.devices import MAX_PAGE
from ingest.api.schemas import MAX_ID, AlertOut, AlertsOut, NotificationOut, RulesOut, WebhookTryOut
from ingest.api.tokens import Scope, Token
from ingest.errors import ConfigError, NameTakenError

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=AUTH_RESPONSES)
Context = Annotated[ApiContext, Depends(api_context)]
Reader = Annotated[Token, Depends(require(Scope.READ))]
RuleName = Annotated[str, Path(pattern=RULE_NAME.pattern, description="the rule's name")]
UNKNOWN_RULE: dict[int | str, dict[str, Any]] = {404: {"description": "no such rule"}}


def _shown(url: str, token: Token) -> str:
    if url == MQTT_TARGET or token.scope.covers(Scope.ADMIN):
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…"


def _rule_out(rule: Rule, token: Token) -> dict[str, Any]:
    body = rule.model_dump(mode="json")
    body["webhooks"] = [_shown(str(url), token) for url in rule.webhooks]
    return body


@router.get("/alert-rules", summary="The alert rules")
def list_rules(context: Context, token: Reader) -> RulesOut:
    return RulesOut(rules=[_rule_out(r, token) for r in context.alerts.store.rules()])


@router.post(
    "/alert-rules",
    status_code=201,
    dependencies=[AdminToken],
    summary="Add an alert rule",
    description="422 for a metric no device has sent, a malformed duration or selector, or a webhook that "
    "is not http(s); 409 when the name is taken.",
    responses={409: {"description": "a rule with this name exists"}},
)
def add_rule(rule: Rule, context: Context) -> dict[str, Any]:
    try:
        context.alerts.add(rule)
    except NameTakenError as e:
        raise HTTPException(409, str(e)) from None
    except ConfigError as e:
        raise HTTPException(422, [{"loc": ["body"], "msg": str(e), "type": "value_error"}]) from None
    return rule.model_dump(mode="json")


@router.delete(
    "/alert-rules/{name}",
    status_code=204,
    dependencies=[AdminToken],
    summary="Remove an alert rule; its pending and firing alerts end without a notification",
    responses=UNKNOWN_RULE,
)
def remove_rule(name: RuleName, context: Context) -> Response:
    if not context.alerts.remove(name):
        raise HTTPException(404, f"no rule named {name!r}")
    return Response(status_code=204)


@router.post(
    "/alert-rules/{name}/test",
    dependencies=[AdminToken],
    summary="Send a test notification (device `test`) to the rule's webhooks now",
    responses=UNKNOWN_RULE,
)
def try_rule(name: RuleName, context: Context) -> WebhookTryOut:
    rule = context.alerts.rule(name)
    if rule is None:
        raise HTTPException(404, f"no rule named {name!r}")
    return WebhookTryOut(results=context.alerts.try_webhooks(rule))


def _note_out(note: Notification, token: Token) -> NotificationOut:
    state = "delivered" if note.delivered_ms else "failed" if note.failed_ms else "waiting"
    return NotificationOut(
        target=_shown(note.target, token),
        transition=note.status,
        state=state,
        attempts=note.attempts,
        delivered=note.delivered_ms,
        last_error=_error_shown(note, token),
    )


def _error_shown(note: Notification, token: Token) -> str | None:
    # An HTTP client's error may quote the URL it was sent to: not to a read token.
    if note.last_error is None or note.target == MQTT_TARGET or token.scope.covers(Scope.ADMIN):
        return note.last_error
    return note.last_error.replace(note.target, _shown(note.target, token))


def _alert_out(alert: Alert, notes: list[Notification], token: Token) -> AlertOut:
    return AlertOut(
        id=alert.id,
        rule=alert.rule,
        device=alert.device,
        state=alert.state,
        started=alert.started_ms,
        fired=alert.fired_ms,
        resolved=alert.resolved_ms,
        value=alert.value,
        notifications=[_note_out(n, token) for n in notes if n.alert_id == alert.id],
    )


@router.get(
    "/alerts",
    summary="Alerts, newest first, with how their notifications went",
    description="`state=active` gives the pending and firing ones. `next` is the `before` of the "
    "following page, null on the last page.",
)
def list_alerts(
    context: Context,
    token: Reader,
    state: Annotated[
        Literal["active", "pending", "firing", "resolved", "removed"] | None, Query(description="only these")
    ] = None,
    device: Annotated[
        str | None, Query(max_length=80, description="only this device's (or `ingest:<id>`)")
    ] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="ids below this one")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="alerts per page")] = 100,
) -> AlertsOut:
    store = context.alerts.store
    if state == "active":
        found = [a for a in store.active() if device is None or a.device == device]
        found.sort(key=lambda a: -a.id)
        page, more = found[:limit], False
    else:
        rows = store.history(device, state, before, limit + 1)
        page, more = rows[:limit], len(rows) > limit
    notes = list(store.notifications([a.id for a in page], limit=10 * len(page))) if page else []
    return AlertsOut(
        alerts=[_alert_out(a, notes, token) for a in page], next=page[-1].id if more and page else None
    )

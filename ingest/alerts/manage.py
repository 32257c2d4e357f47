"""What the CLI and the API do with rules: add one (checked against what devices send), remove, list,
and send a test notification to a rule's webhooks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.alerts import payload
from ingest.alerts.rules import Rule
from ingest.alerts.store import AlertStore
from ingest.alerts.webhook import Webhooks
from ingest.errors import ConfigError


@dataclass
class AlertDesk:
    store: AlertStore
    metric_in_use: Callable[[str], bool]
    webhooks: Webhooks
    external_url: str
    clock: Callable[[], float] = field(default=time.time)
    on_change: Callable[[], None] = field(default=lambda: None)
    """Told after each rule added or removed (the service's engine: it reads the rules again before
    its next evaluation instead of at its next tick)."""

    def add(self, rule: Rule) -> None:
        """Adds the rule; ConfigError for a metric no device has sent (a typo would never fire) or a
        name that is taken."""
        metric = getattr(rule.condition, "metric", None)
        if metric is not None and not self.metric_in_use(metric):
            raise ConfigError(f"no device has sent a metric named {metric!r} (names are case-sensitive)")
        self.store.add_rule(rule, int(self.clock() * 1000))
        self.on_change()

    def remove(self, name: str) -> bool:
        """Removes the rule; its pending and firing alerts end without a notification."""
        removed = self.store.remove_rule(name)
        if removed:
            self.on_change()
        return removed

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.store.rules() if r.name == name), None)

    def try_webhooks(self, rule: Rule) -> dict[str, str | None]:
        """POSTs a firing alert for the device `test` to each of the rule's webhooks; each URL → None
        when the receiver took it, else what went wrong."""
        now_ms = int(self.clock() * 1000)
        body = payload.body(rule, "test", "firing", now_ms, None, {"test": True}, self.external_url)
        return {str(url): self.webhooks.post(str(url), body) for url in rule.webhooks}

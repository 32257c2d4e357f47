"""Alerts (design.md §12): rules (`rules`), their evaluation on the pipeline's messages and on a timer
(`engine`), their state and notifications' outbox in the state store (`store`), and delivery to
webhooks and `<prefix>/$alerts` (`notify`, `webhook`, `payload`)."""

"""Names of outbox topics: what a row asks the workers to do."""

#: Route stored events to journeys: ``{"event_ids": [...]}``.
ROUTE_EVENTS = "events.route"
#: Send a queued message: ``{"message_id": ...}`` (the email pipeline consumes it).
SEND_EMAIL = "email.send"
#: Call a journey webhook: the ``CallWebhook`` action as JSON.
CALL_WEBHOOK = "webhook.call"
#: A lead was handed to sales: ``{"handoff_id": ...}``.
HANDOFF_CREATED = "handoff.created"
#: An internal notification: the ``Notify`` action as JSON.
NOTIFY = "notify"
#: Contacts whose fields, tags or consent changed: ``{"contact_ids": [...]}``; their live
#: enrollments re-check ``exit_when`` and goals at once.
CONTACTS_CHANGED = "contacts.changed"

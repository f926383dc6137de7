"""Messages to colleagues (never to contacts): in the admin UI, by internal email, or in Slack."""

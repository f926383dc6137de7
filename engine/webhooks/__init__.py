"""Outgoing webhooks: signed, SSRF-checked, retried with backoff, dead-lettered when spent."""

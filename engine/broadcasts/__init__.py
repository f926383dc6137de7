"""Broadcasts: one-off campaigns to a segment or tag, walked in resumable batches, with A/B tests."""

"""Operations: what running processes say about themselves (heartbeats, liveness)."""

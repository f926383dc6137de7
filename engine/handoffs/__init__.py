"""Sales handoffs: pick an owner for a qualified lead, tell them, and tell the CRM."""

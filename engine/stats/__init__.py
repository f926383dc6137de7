"""Delivery statistics: metric definitions, hourly rollups kept current, and their queries."""

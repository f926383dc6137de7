"""The journey runtime: enrollments move through published journeys, durably and exactly once."""

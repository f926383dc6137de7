"""Versioned deploy: journey files in, immutable versions out, and the journey lifecycle.

``service`` plans and applies deploys (validate everything, store only what changed, all or
nothing), pauses, resumes and archives journeys, and moves enrollments along a ``migrate:``
map; ``diff`` compares two specs step by step; ``catalog`` reads what journeys may refer to
from disk. Nothing is re-exported here, so a face can import the light ``catalog`` without
loading the database layer.
"""

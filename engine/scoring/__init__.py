"""Lead scoring: points from events with caps, decay, the fit grade and the MQL rule."""

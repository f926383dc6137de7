"""Bounces and complaints: parse them, classify them, act on them."""

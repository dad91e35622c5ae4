"""Braze triggers."""

"""Capture: what a cell or script ran and what it touched."""

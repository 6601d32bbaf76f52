"""Delivery to network outputs: a durable spool per output drained by its own writer thread."""

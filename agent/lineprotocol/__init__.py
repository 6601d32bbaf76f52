"""Metric, the one serializer (with its compiled fast path), the strict parser, the line check."""

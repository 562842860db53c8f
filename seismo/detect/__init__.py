"""Detect: tests on the metric tables (change, fairness, drift) with false-alarm control."""

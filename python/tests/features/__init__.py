"""Data generators, YAML definitions and server helpers of the feature-store tests."""

"""Glue between the trained model artifacts (models/) and the pure core: loading and scoring."""

"""Example pipelines and demos that run on flowlog."""

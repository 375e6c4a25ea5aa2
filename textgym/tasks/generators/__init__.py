"""Procedural corpora written in this repository, one module per task family."""

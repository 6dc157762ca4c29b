"""Retrieval evaluation: metrics through ir-measures, TREC run files, base-vs-tuned reports."""

"""Candidate mining: top-k passages per synthetic query from several retrievers, fused by RRF."""

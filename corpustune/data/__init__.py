"""Records, readers and writers for corpora, queries, qrels and run-folder artifacts."""

from corpustune.data.records import Candidate, CandidateList, Passage, Query, ScoredList

__all__ = ["Candidate", "CandidateList", "Passage", "Query", "ScoredList"]

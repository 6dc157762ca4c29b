"""Stage 1: an LLM writes synthetic queries of several types for sampled passages.

`run_generation(passages, config, out_dir)` (in `runner`) is the library entry point; query types
are YAML declarations (`types/*.yaml`), backends live in `backends/`.
"""

"""Benchmarks that print numbers (`radiodiff bench data|parse|train|evaluate`): one module each, with a `run()`."""

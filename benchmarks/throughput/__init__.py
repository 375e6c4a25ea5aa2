"""Throughput benchmarks: each compares textgym against a peer measured in the same run and reports ratios."""

"""Benchmarks of the sync at scale (`make bench`, `python -m bench`); see docs/performance.md.

Each scenario runs the product's own library steps (the ones the DAG tasks call) in a child
process, against a throw-away embedded PostgreSQL and Salesforce emulator, and compares the
time with a floor: the same records moved by the least work that can move them, measured in
the same run on the same servers.
"""

"""Benchmarks: they print figures and compare against a peer in the same run.

Never part of the pass/fail suite (the suite only checks they run on a tiny N).
"""

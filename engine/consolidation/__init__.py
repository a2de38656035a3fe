"""Merging agents' results into a synthesis: comparison rules, conflicts with their
evidence, risks. Imports state, workflow and support.
"""

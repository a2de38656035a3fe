"""Validation checkpoints: criteria, the go/no-go matrix and the names expressions read.
Imports state, workflow and support.
"""

"""The workflow file: its models, the checks across fields, the loader that reports
FILE:LINE:COL, CEL expressions and placeholders. Imports only engine.support.
"""

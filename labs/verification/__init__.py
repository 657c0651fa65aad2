"""Verification: proving what a system does: contract tests and simulation testing over
many seeds with shrinking (chapter 16)."""

"""Shared test helpers: daemon processes, fault injection, the tiny VOID model, fake hosts. Used by tests and bench."""

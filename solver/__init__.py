"""The placement core: pure computation, no I/O (the solver itself arrives with the proposals work)."""

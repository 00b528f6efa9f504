"""PyDeequ: the batch constraints of a `RuleSet`, verified by Deequ's `VerificationSuite`."""

from wikiguard.adapters.deequ.verification import DeequVerdict, compile_checks, verify_batch

__all__ = ["DeequVerdict", "compile_checks", "verify_batch"]

"""Test doubles of external systems that run on loopback (not fakes of our own ports)."""

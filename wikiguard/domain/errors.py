"""The root of every error WikiGuard anticipates; each subclass lives where it is raised."""


class WikiguardError(Exception):
    """Something WikiGuard anticipated and can name: bad configuration, bad input, an unreachable system."""

"""In-memory adapters of every port: the fakes unit tests run against, kept honest by contract tests."""

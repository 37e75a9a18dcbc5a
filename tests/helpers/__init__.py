"""Shared test helpers: the CLI runner, fake plugin installs, throw-away servers."""

"""The example's tests use agentdb's pytest plugin: a migrated, clean database per test."""

pytest_plugins = ["agentdb.testing"]

"""Each metric folder's app.py is a Space's entry point: it launches a server when imported, so
--doctest-modules must not import it (tests/test_metric_modules.py runs it with the launcher replaced)."""

collect_ignore_glob = ["*/app.py"]

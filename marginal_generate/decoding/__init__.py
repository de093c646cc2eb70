"""Decoding loops: the cached stepper, the search over greedy path and output tree, the greedy-path recorder."""

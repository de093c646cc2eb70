"""Prompt generators: seeded code that puts the template tables of ``training/data/`` together.

- :mod:`training.generators.benign`: benign prompts from templates and topics (a train pool and a held-out pool) and
  from the standard library's docstrings;
- :mod:`training.generators.harmful`: single harmful requests with their Llama Guard 3 ids, benign requests in the
  same words and templates, and the rephrasing (lower case, typos, ...) every hand-written prompt gets in training;
- :mod:`training.generators.privacy`: privacy requests (S7) and safe ones of the same shapes (``--privacy-per-epoch``).
"""

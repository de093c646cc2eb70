"""Fixtures over the toy tokenizer families (see toy_models.py)."""

import pytest


@pytest.fixture(scope="session", params=["word", "byte", "sentencepiece"])
def tokenizer_kind(request) -> str:
    return request.param

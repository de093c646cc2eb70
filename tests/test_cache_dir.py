"""Where the converted Llama tokenizers are kept: the user cache folder, under a name no Python module can have.

Issue #27 item 8: the cache was ``$TMPDIR/marginal_generate``, so Python started in the temp folder imported that
folder (a namespace package) instead of the installed package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from marginal_generate.testing import cache_dir


def python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``python -c code`` in ``cwd``, with ``env`` over this environment, MARGINAL_GENERATE_CACHE unset unless given."""
    base = {k: v for k, v in os.environ.items() if k != "MARGINAL_GENERATE_CACHE"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=300
    )


def test_cache_dir_honours_the_variables_and_cannot_be_imported(monkeypatch, tmp_path):
    monkeypatch.delenv("MARGINAL_GENERATE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "marginal-generate"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "marginal-generate"
    monkeypatch.setenv("MARGINAL_GENERATE_CACHE", "~/mine")
    assert cache_dir() == tmp_path / "home" / "mine"
    monkeypatch.setenv("MARGINAL_GENERATE_CACHE", "")  # empty: as if unset
    assert cache_dir().name == "marginal-generate" and not cache_dir().name.isidentifier()


@pytest.mark.slow
def test_the_tokenizer_cache_does_not_shadow_the_package(tmp_path):
    """Build the Llama 3 tokenizer with the temp folder, the user cache and the working directory all one folder,
    then import the package from there: it is the package, not a cache folder."""
    where = {"TMPDIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path), "HOME": str(tmp_path)}
    built = python(
        "from marginal_generate.testing import llama3_tokenizer; print(len(llama3_tokenizer()))", tmp_path, **where
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.split() == ["128256"]
    saved = list(tmp_path.glob("marginal-generate/llama3-llama_models-*-transformers-*/tokenizer.json"))
    assert len(saved) == 1 and saved[0].stat().st_size > 1_000_000
    assert not (tmp_path / "marginal_generate").exists()
    imported = python("import marginal_generate as mg; print(mg.load_default.__name__)", tmp_path, **where)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == ["load_default"]


@pytest.mark.slow
def test_a_cache_that_cannot_be_written_still_gives_the_tokenizer(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    built = python(
        "from marginal_generate.testing import llama3_tokenizer; print(llama3_tokenizer().eos_token)",
        tmp_path,
        MARGINAL_GENERATE_CACHE=str(blocked),
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.split() == ["<|eot_id|>"]
    assert blocked.read_text() == "not a folder"

"""The README's fenced blocks as the tests read them: each block with its language, line, ``##`` section and the
reason given for not running it (``<!-- not run: ... -->`` just before its fence), and what a block shows it prints
(the untagged block right after it). ``test_readme.py`` runs the blocks; ``test_serving.py`` runs the Serve
section's examples against a real server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
NOT_RUN = re.compile(r"<!--\s*not run:(.*?)-->")


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # of the opening fence, 1-based
    code: str
    section: str
    not_run: str | None  # the reason, when the block is not run


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text``, with the ``##`` section each is in and the reason given before it, if any.

    >>> text = "## Use\\n<!-- not run: needs a GPU -->\\n```python\\nx = 1\\n```\\n\\n```bash\\nls\\n```\\n"
    >>> [(b.language, b.line, b.code, b.section, b.not_run) for b in readme_blocks(text)]
    [('python', 3, 'x = 1\\n', 'Use', 'needs a GPU'), ('bash', 7, 'ls\\n', 'Use', None)]
    """
    lines = text.splitlines()
    blocks, section, reason, marked, k = [], "", None, 0, 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("## "):
            section = line[3:].strip()
        marker = NOT_RUN.search(line)
        if marker:
            reason, marked = marker.group(1).strip(), k + 1
        elif line.startswith("```"):
            end = next(j for j in range(k + 1, len(lines)) if lines[j].startswith("```"))
            code = "".join(f"{body}\n" for body in lines[k + 1 : end])
            blocks.append(Block(line[3:].strip(), k + 1, code, section, reason))
            reason, k = None, end
        elif line.strip():
            if reason is not None:
                raise ValueError(f"README line {marked}: a 'not run' comment must come just before a fenced block")
        k += 1
    return blocks


def printed_outputs(blocks: list[Block], text: str) -> dict[int, str]:
    """Per python block that shows what it prints, that output: the untagged block right after it, with only blank
    lines or a line ``prints`` between them. Keyed by the python block's line.

    >>> text = "```python\\nprint(1)\\n```\\n\\n```\\n1\\n```\\n```python\\nx = 2\\n```\\nProse.\\n```\\nx\\n```\\n"
    >>> printed_outputs(readme_blocks(text), text)
    {1: '1\\n'}
    """
    lines = text.splitlines()
    found = {}
    for block, after in zip(blocks, blocks[1:]):
        if block.language != "python" or after.language != "":
            continue
        closing = block.line + len(block.code.splitlines()) + 1  # the python block's closing fence, 1-based
        between = [line.strip() for line in lines[closing : after.line - 1]]
        if all(line in ("", "prints") for line in between):
            found[block.line] = after.code
    return found


def example(blocks: list[Block], marker: str) -> tuple[Block, Block]:
    """The first code block holding ``marker`` and the untagged block right after it, what it shows it prints.

    >>> text = "```bash\\ncurl x\\n```\\nprints\\n```\\n{}\\n```\\n"
    >>> [(b.language, b.code) for b in example(readme_blocks(text), "curl")]
    [('bash', 'curl x\\n'), ('', '{}\\n')]
    """
    at = next(k for k, b in enumerate(blocks) if b.language in ("python", "bash") and marker in b.code)
    assert at + 1 < len(blocks) and blocks[at + 1].language == "", (
        f"README line {blocks[at].line}: what the block prints follows it in an untagged block"
    )
    return blocks[at], blocks[at + 1]

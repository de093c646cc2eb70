"""The prefix reading of any_place (issue #34), before and after, in one process: every row a ratio in the same run.

Before: each new prefix decoded whole by ``tokenizer.decode`` (transformers' Python wrapper, then Rust), the trailing
bytes read by ``Utf8Tail``, Llama Guard's prefix state read through its spans (``_read``), and the greedy recorder's
``decode`` of the whole prefix at every step. After: ``decoding/token_text.py`` (each prefix is its parent's text and
the new token's piece), the direct ``LlamaGuardParser.prefix_state``. The search code is the same for both; the
before rows swap the reader in (``decoding.search.PrefixReader``, ``decoding.greedy_path.TokenText``).

Two tables: any_place through ``generate`` (greedy, then lower and best with each reading; interleaved repeat by
repeat, best of ``--repeats``), and the reading alone: every ``(prefix, finished)`` one any_place call over all
batches reads, in its order, read again by a fresh reader of each kind (best of ``--repeats``).

    python benchmarks/prefix_reading.py                                   # the shipped model, 64 prompts
    python benchmarks/prefix_reading.py --model real-vocab --prompts 16   # the real Llama 3 vocabulary
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overhead import run_parser, run_setup  # noqa: E402
from timing import any_place_over, greedy_over, interleaved, machine, pad_id, table, timed  # noqa: E402

import marginal_generate as mg  # noqa: E402
from marginal_generate.decoding import greedy_path, search  # noqa: E402
from marginal_generate.decoding.prefixes import PrefixReader  # noqa: E402
from marginal_generate.decoding.utf8_tail import Utf8Tail  # noqa: E402
from marginal_generate.labels.llama_guard import LlamaGuardParser  # noqa: E402
from marginal_generate.labels.prefix_state import REPLACEMENT, PrefixState, readable_prefix  # noqa: E402


def spans_state(grammar: Any, text: str, finished: bool) -> PrefixState:
    """Llama Guard's prefix state as it was read before: through ``_read``'s spans."""
    if not isinstance(grammar, LlamaGuardParser):
        return grammar.prefix_state(text, finished)
    spans, possible, _ = grammar._read(text, finished)
    confirmed = frozenset(s.label for s in spans)
    return PrefixState(confirmed=confirmed, possible=frozenset(possible) - confirmed)


class EarlierReader(PrefixReader):
    """The reader before: ``tokenizer.decode`` of each new prefix whole, ``Utf8Tail``, the spans-based state."""

    def __init__(self, space: mg.LabelSpace) -> None:
        super().__init__(space)
        self._tail = Utf8Tail(space.tokenizer)
        self._whole: dict[tuple[int, ...], str] = {}

    def read(self, tokens: tuple[int, ...], finished: bool) -> tuple[str, PrefixState]:
        text = self._whole.get(tokens)
        if text is None:
            text = self._whole[tokens] = self.space.decode(tokens)
        if finished or not text.endswith(REPLACEMENT) or self._tail.incomplete(tokens):
            text = readable_prefix(text, finished)
        state = self._states.get((text, finished))
        if state is None:
            state = self._states[text, finished] = spans_state(self.space.grammar, text, finished)
        return text, state


class WholeDecode:
    """The greedy recorder's decoding before: ``tokenizer.decode`` of the whole prefix at every step."""

    plan = None
    exact = False

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._tail = Utf8Tail(tokenizer)

    def decode(self, tokens: tuple[int, ...]) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True)

    def incomplete(self, tokens: tuple[int, ...]) -> bool:
        return self._tail.incomplete(tokens)


class Recording(PrefixReader):
    """Notes every ``(prefix, finished)`` it is asked, in order."""

    asked: list[tuple[tuple[int, ...], bool]] = []

    def read(self, tokens: tuple[int, ...], finished: bool) -> tuple[str, PrefixState]:
        Recording.asked.append((tokens, finished))
        return super().read(tokens, finished)


def reading(kind: str):
    """Run the search with the ``kind`` of reading (``before`` / ``after``)."""
    current = search.PrefixReader, greedy_path.TokenText
    earlier = EarlierReader, WholeDecode

    def use(fn):
        def run():
            search.PrefixReader, greedy_path.TokenText = earlier if kind == "before" else current
            try:
                return fn()
            finally:
                search.PrefixReader, greedy_path.TokenText = current

        return run

    return use


def main() -> None:
    parser = run_parser(__doc__)
    args = parser.parse_args()

    model, tok, convs, name, space, batches = run_setup(args)
    n = args.max_new_tokens

    def any_place(estimate: str):
        return lambda: any_place_over(model, batches, space, args.eps, args.top_p, n, estimate=estimate)

    methods = [("greedy generate (batched)", lambda: greedy_over(model, batches, n, pad_token_id=pad_id(tok)))]
    for estimate in ("lower", "best"):
        for kind in ("before", "after"):
            methods.append((f'any_place "{estimate}", reading {kind}', reading(kind)(any_place(estimate))))
    outputs = {label: fn() for label, fn in methods}  # warm-up
    best = dict.fromkeys(outputs, float("inf"))
    cpu = dict.fromkeys(outputs, float("inf"))  # CPU seconds of this process: less moved by other processes' load
    for _ in range(args.repeats):
        for label, fn in methods:
            run = timed(fn)
            best[label], cpu[label] = min(best[label], run.wall), min(cpu[label], run.cpu)
    same = all(
        torch.equal(a.lower, b.lower) and torch.equal(a.upper, b.upper) and torch.equal(a.probs, b.probs)
        for estimate in ("lower", "best")
        for a, b in zip(
            outputs[f'any_place "{estimate}", reading before'], outputs[f'any_place "{estimate}", reading after']
        )
    )

    # the reading alone: what one any_place call over all batches asks, read again by a fresh reader of each kind
    asked: list[list[tuple[tuple[int, ...], bool]]] = []
    for b in batches:
        Recording.asked = []
        search.PrefixReader = Recording
        try:
            any_place_over(model, [b], space, args.eps, args.top_p, n, estimate="best")
        finally:
            search.PrefixReader = PrefixReader
        asked.append(Recording.asked)

    def read_all(cls):
        def run():
            for prefixes in asked:
                reader = cls(space)
                for tokens, finished in prefixes:
                    reader.read(tokens, finished)

        return run

    read_best, _ = interleaved([("before", read_all(EarlierReader)), ("after", read_all(PrefixReader))], args.repeats)
    calls = sum(len(a) for a in asked)
    distinct = sum(len(set(a)) for a in asked)

    base = best[methods[0][0]]
    print(f"model: {name} | {machine()}")
    print(
        f"{len(convs)} prompts in batches of {args.batch_size}; eps={args.eps} top_p={args.top_p} max_new_tokens={n}; "
        f"best of {args.repeats}, methods interleaved (wall and CPU seconds each the best of its own)"
    )
    print()
    columns = [
        ("method", 36, ""),
        ("wall s", 8, ".3f"),
        ("x greedy", 8, ".2f"),
        ("CPU s", 8, ".3f"),
        ("x greedy", 8, ".2f"),
    ]
    base_cpu = cpu[methods[0][0]]
    print(table(columns, [(m, best[m], best[m] / base, cpu[m], cpu[m] / base_cpu) for m, _ in methods]))
    print()
    for estimate in ("lower", "best"):
        before, after = best[f'any_place "{estimate}", reading before'], best[f'any_place "{estimate}", reading after']
        cpu_ratio = cpu[f'any_place "{estimate}", reading after'] / cpu[f'any_place "{estimate}", reading before']
        print(f'any_place "{estimate}": reading after / before = {after / before:.2f}x wall, {cpu_ratio:.2f}x CPU')
    print(f"bounds and probs of both readings identical: {same}")
    print()
    print(f"the reading alone: {calls} reads of {distinct} distinct (prefix, finished) over {len(batches)} searches")
    print(
        table(
            [("reader", 10, ""), ("wall s", 8, ".4f"), ("us/read", 8, ".2f")],
            [(k, read_best[k], read_best[k] / calls * 1e6) for k in ("before", "after")],
        )
    )
    print(f"after / before = {read_best['after'] / read_best['before']:.2f}x")


if __name__ == "__main__":
    main()

"""Token ids of the training examples: :class:`Encoder` (prompt parts and answers, with target sets, tokens to avoid
and loss weights), :func:`pack` (a conversation's prompts in one sequence) and :func:`batches` (length-sorted,
shuffled batches)."""

from __future__ import annotations

import random

from training.prompt_format import CATEGORIES, prompt_prefix, prompt_suffix


class Encoder:
    """Token ids of prompt parts and answers, with the target set of every answer token.

    A target set has one token, except at a category id: with the ids listed in a random order,
    every id not written yet is an equally right next one, so the loss there is the mean of their
    negative log-probabilities (the expectation of the shuffled-order loss, without its variance).

    Every answer token also has a loss weight: ``unsafe_weight`` on the verdict ``unsafe`` of the plain guard prompt
    (``--unsafe-weight``), 1 elsewhere. Prompts with a policy of a few categories keep 1: weighed there too, the
    model wrote ids outside a one-category policy more often (runs of 2026-12-01)."""

    CACHE_SIZE = 50000  # texts kept encoded; an epoch has about 7,000 conversations

    def __init__(self, tok, unsafe_weight: float = 1.0) -> None:
        self.tok = tok
        self.unsafe_weight = unsafe_weight
        one = lambda text: self._single(text)  # noqa: E731
        self.nl2, self.safe, self.unsafe, self.nl, self.s = (one(t) for t in ("\n\n", "safe", "unsafe", "\n", "S"))
        self.yes, self.no = one("yes"), one("no")
        self.separator = self.tok(",S", add_special_tokens=False)[
            "input_ids"
        ]  # Llama 3's regex makes ",S" one pre-token
        self.digit = {c: one(c[1:]) for c in CATEGORIES}
        self.eos = tok.eos_token_id
        self._cache: dict[str, list[int]] = {}

    def _single(self, text: str) -> int:
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, (text, ids)
        return ids[0]

    def ids(self, text: str) -> list[int]:
        if text not in self._cache:
            self.prefill([text])
        return self._cache[text]

    def prefill(self, texts: list[str]) -> None:
        """Encode the ``texts`` not cached yet in one call of the fast tokenizer's backend: the same ids as one
        call per text, without the per-call overhead (about 4 s an epoch of 7,000 conversations)."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if not todo:
            return
        if len(self._cache) + len(todo) > self.CACHE_SIZE:
            self._cache.clear()
        for text, encoding in zip(todo, self.tok.backend_tokenizer.encode_batch(todo, add_special_tokens=False)):
            self._cache[text] = encoding.ids

    def item_texts(self, conv: list[dict], branches: list[tuple]) -> list[str]:
        """The prompt texts :meth:`item` encodes for one conversation (to :meth:`prefill` them in bulk)."""
        texts = [prompt_prefix(conv)]
        for kind, extra, _ in branches:
            texts.append(prompt_suffix(conv, **{"categories" if kind == "guard" else "question": extra}))
        return texts

    def guard_answer(self, cats: list[str]) -> tuple[list[int], list[list[int]], list[list[int]]]:
        """The answer's tokens, the target set of each, and the tokens each position must avoid: at a category id,
        the ids already written (Llama Guard names a category once; see ``packed_loss``'s ``avoid_weight``).

        Without that, the shipped model of 2026-11 wrote a repeated id (``unsafe\\nS7,S7``) in about one held-out
        answer in ten: the target set alone spreads the probability over the ids still to write, and the one layer
        did not learn to push the written ones down. With ``--avoid-repeats 1`` 0.973 of the held-out answers were
        in the format; runs with 5 and 8 gave 0.994 but kept fewer one-category policy answers within the policy
        (0.886 and 0.825 of 360, against 0.861), and the one with 5 judged "How do I make a pipe bomb?" safe. With
        the weight on ``unsafe`` (``--unsafe-weight 1.6``), weight 1 gave 0.950 and 0.930; the shipped model uses 3
        (0.979, policy 0.889)."""
        if not cats:
            tokens = [self.nl2, self.safe, self.eos]
            return tokens, [[t] for t in tokens], [[] for _ in tokens]
        tokens, targets = [self.nl2, self.unsafe, self.nl], [[self.nl2], [self.unsafe], [self.nl]]
        avoid: list[list[int]] = [[], [], []]
        for k, c in enumerate(cats):
            lead = self.separator if k else [self.s]
            tokens += [*lead, self.digit[c]]
            targets += [[t] for t in lead] + [[self.digit[r] for r in cats[k:]]]
            avoid += [[] for _ in lead] + [[self.digit[r] for r in cats[:k]]]
        tokens.append(self.eos), targets.append([self.eos]), avoid.append([])
        return tokens, targets, avoid

    def item(
        self, conv: list[dict], branches: list[tuple]
    ) -> tuple[list[int], list[tuple[list[int], list[int], list[list[int]], list[list[int]], list[float]]]]:
        """A conversation's shared prefix and its branches (suffix prompt ids, answer ids, the target set, the
        tokens to avoid and the loss weight of every answer token)."""
        prefix, *suffixes = self.item_texts(conv, branches)
        out = []
        for (kind, extra, payload), suffix in zip(branches, suffixes):
            if kind == "guard":
                answer, targets, avoid = self.guard_answer(payload)
            else:
                answer = [self.nl2, self.yes if payload else self.no, self.eos]
                targets, avoid = [[t] for t in answer], [[] for _ in answer]
            weights = [1.0] * len(answer)
            if kind == "guard" and extra is None and payload:
                weights[1] = self.unsafe_weight  # the verdict: answer[1] is ``unsafe``
            out.append((self.ids(suffix), answer, targets, avoid, weights))
        return self.ids(prefix), out


def pack(item) -> tuple[list[int], list[int], list[int], list[tuple[int, list[int], list[int], float]]]:
    """One sequence: the prefix, then every branch; segment ids (0 prefix, k branch k), positions
    (each branch continues the prefix's), and (predicting position, target set, tokens to avoid, loss weight) for
    every answer token."""
    prefix, branches = item
    ids, seg, pos = list(prefix), [0] * len(prefix), list(range(len(prefix)))
    targets = []
    for k, (prompt, answer, sets, avoid, weights) in enumerate(branches, start=1):
        start = len(ids)
        ids += prompt + answer
        seg += [k] * (len(prompt) + len(answer))
        pos += range(len(prefix), len(prefix) + len(prompt) + len(answer))
        for i, (target, shun, weight) in enumerate(zip(sets, avoid, weights)):
            targets.append((start + len(prompt) + i - 1, target, shun, weight))
    return ids, seg, pos, targets


def batches(items: list, batch_size: int, rng: random.Random):
    """Shuffled batches of similar length (less padding), sorted on the first tokens so that a batch
    shares a long common prefix (see ``packed_loss``)."""
    order = sorted(range(len(items)), key=lambda i: (items[i][0][:20], len(items[i][0]), rng.random()))
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(chunks)
    return chunks

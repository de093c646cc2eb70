"""The ``any_place`` estimate: where the mass that the cuts drop most likely goes.

The tree search credits a label's lower bound exactly (at the first prefix that confirms it)
and puts the mass that ``top_p`` or ``eps`` removes below a node into the upper bound of every
label that node may still add. The *estimate* places each label between those bounds from
what the search knows at the cut: the dropped children of a cut node, their prefix mass and
their parser state. For the heaviest dropped children of each cut node (at most
``per_node``, each at least ``floor * eps``), decoded and parsed:

- a child whose last token **confirms** a label (the comma after ``S1``, the newline after
  ``unsafe``, EOS) gives it its mass: exact, since every continuation inherits the label;
- a child that **has written** a label but not its delimiter yet (``S`` + ``7``) gives it its
  mass: its next token (a delimiter or EOS) confirms it almost always;
- the labels a child **may still add**: children at least ``rollout * eps`` heavy are continued
  greedily to the end of their answer (extra rows of the same batched forwards) and give their
  mass to the labels of that answer, unless the answers explored so far that would vote for them
  already agree on each such label (``settled``); for the lighter ones, with ``answers``, the explored answers
  (the tree's, and the roll-outs' weighted by the mass they stand for) whose label set contains
  what the child has written vote: label ``L`` gets ``mass * P(L | explored answers that contain
  them)``; where no explored answer contains them, those that contain what the child's cut node had
  confirmed vote instead (``backoff``), at ``backoff_weight`` (half) of their share: such a child has
  already written a label that none of them has, so it goes on less often than they do (measured on
  the embedded model: at the whole share the estimate lay 0.0018 above the exact value on average,
  0.0006 at half); nothing where the child's open item can no longer be a label (``S1x``);
- the votes are **calibrated** per prompt by its roll-outs, which are a sample of the dropped
  children with their true continuation: each finished roll-out says how many of the labels the
  votes would have given it it reached, and the prompt's votes are scaled by ``found / said``
  (at most 1; 1 for a prompt without a roll-out). A prompt whose dropped children end where the
  explored answers go on (slips that close the answer, say) thus stops voting, and one whose
  dropped children continue like the explored ones keeps its votes. So that each prompt has a
  check, its first voting child at least ``probe * eps`` heavy is rolled out too;
- a roll-out still running ``tail`` (2) depths after the rest of its prompt's search has ended stops there and
  gives what it holds (a wandering roll-out would otherwise cost a forward per token up to ``max_new_tokens``);
- a child that can no longer add a label, and the dropped mass not looked at, give nothing.

Each child gives a label at most its own mass, and only a label its cut node may still add, so
``lower <= estimate <= upper``; with ``eps=0`` and ``top_p=1`` nothing is dropped and the
estimate is the exact value. Everything is per prompt, so a prompt's estimate does not depend on
the batch around it. The defaults were chosen by ``benchmarks/any_place_estimate.py`` against an
exact walk of the output trees of the embedded model and of planted models of three more grammars.

>>> from marginal_generate.testing import word_level_tokenizer
>>> from marginal_generate.labels import LabelSpace
>>> tok = word_level_tokenizer(["safe", "unsafe", "S1", "S2", ",", "\\n"])
>>> space = LabelSpace(tok, categories=["S1", "S2"])
>>> ids = {t: tok.convert_tokens_to_ids(t) for t in ["unsafe", "\\n", "S1", ","]}
>>> est = CutEstimator(space, 1, {tok.eos_token_id}, max_new_tokens=9, eps=0.1,
...                    params=EstimateParams(rollout=None))
>>> parent = (ids["unsafe"], ids["\\n"])
>>> state = space.prefix_state("unsafe\\n", finished=False)
>>> est.on_cut(0, parent, state, [(ids["S1"], 0.05)], depth=2)   # "unsafe\\nS1": S1 written, not confirmed
[]
>>> est.on_answer(0, frozenset({"unsafe", "S1", "S2"}), 0.3)     # explored answers that contain S1 ...
>>> est.on_answer(0, frozenset({"unsafe", "S1"}), 0.1)          # ... carry S2 three times out of four
>>> est.estimate(torch.zeros(1, 3, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64)).tolist()
[[0.0, 0.05, 0.0375]]
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch

from ..labels.grammar import written_in_slot
from ..labels.prefix_state import PrefixState
from ..labels.space import LabelSpace
from .prefixes import PrefixReader

__all__ = ["Estimate", "ESTIMATES", "EstimateParams", "CutEstimator", "open_item", "check_estimate", "grammar_estimate"]

Labels = frozenset[str]
Estimate = Literal["best", "lower"]
ESTIMATES: tuple[str, ...] = get_args(Estimate)


def check_estimate(estimate: object) -> None:
    """Raise a ``ValueError`` naming ``estimate`` unless it is one of :data:`ESTIMATES`.

    >>> check_estimate("best")
    >>> check_estimate("upper")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `estimate` must be one of ['best', 'lower'], got 'upper'; use 'best' (the default: ...
    """
    if estimate not in ESTIMATES:
        raise ValueError(
            f"`estimate` must be one of {list(ESTIMATES)}, got {estimate!r}; use 'best' (the default: the estimate "
            "between the bounds) or 'lower' (the certified lower bound, what probs held before)."
        )


def grammar_estimate(space: LabelSpace, estimate: Estimate) -> Estimate:
    """What ``estimate`` gives on ``space``'s grammar: ``"best"`` is the lower bound on a grammar whose ``estimate``
    attribute is ``"lower"`` (a grammar where the estimate measured worse on average than the lower bound).

    Measured per grammar by ``benchmarks/any_place_estimate.py --grammar all`` (benchmarks/RESULTS.md): since the
    votes are calibrated by the roll-outs, the estimate is closer than the lower bound on every grammar shipped
    (Llama Guard, label lists, yes/no and ``Name: value`` fields, where it fell back to the lower bound before), so
    none sets the attribute; a grammar of one's own may.

    >>> from marginal_generate.labels.fields import WILDGUARD_FIELDS
    >>> from marginal_generate.testing import word_level_tokenizer
    >>> tok = word_level_tokenizer(["Harmful", "request", ":", "yes", "no", "Response", "refusal", "response"])
    >>> space = LabelSpace.fields(tok, WILDGUARD_FIELDS)
    >>> grammar_estimate(space, "best")
    'best'
    >>> space.grammar.estimate = "lower"  # a grammar that measured the estimate worse than the lower bound
    >>> grammar_estimate(space, "best"), grammar_estimate(space, "lower")
    ('lower', 'lower')
    """
    if estimate == "best" and getattr(space.grammar, "estimate", "best") == "lower":
        return "lower"
    return estimate


@dataclass(frozen=True)
class EstimateParams:
    """How the estimate looks at the dropped mass (see the module docstring).

    Attributes:
        per_node: the heaviest dropped children looked at per cut node.
        floor: children lighter than ``floor * eps`` are not looked at.
        rollout: children at least ``rollout * eps`` heavy that may still add a label are
            continued greedily to the end of their answer; None: no roll-outs. With ``eps=0``
            nothing is rolled out (the only cut is the nucleus tail).
        answers: let the explored answers vote on the labels a child may still add.
        calibrate: scale each prompt's votes by how far its finished roll-outs bore the votes out.
        probe: a prompt with no roll-out yet rolls out its first child that votes and is at least
            ``probe * eps`` heavy, so that its votes have a check; None: no probes (nor with ``rollout=None``).
        backoff: a child that no explored answer holding what it holds can vote for gets the votes of the
            explored answers that hold what its cut node had confirmed.
        backoff_weight: the share of those backed-off votes a child gets (each label ``backoff_weight *
            mass * P(label | the answers that hold what its cut node had confirmed)``); the calibration
            compares a roll-out with the same weighted votes. 1: the whole share (before #29's goals).
        settled: a heavy child is not rolled out (its votes place it) when the answers explored so far that
            would vote for it already agree on each label it may add: the label is in at most ``settled`` or at
            least ``1 - settled`` of their mass; None: every heavy child is rolled out.
        tail: a prompt's roll-outs still running ``tail`` depths after every other row of that prompt has ended
            (its tree, its greedy path, its lookaheads) stop there, at what they hold (:meth:`CutEstimator.stop`): a
            roll-out that wanders (a chatty model, a random one) costs one forward per token up to
            ``max_new_tokens``. Counted per prompt, so a prompt's estimate does not depend on its batch. None: every
            roll-out runs to its end.
    """

    per_node: int = 12
    floor: float = 0.01
    rollout: float | None = 0.8
    answers: bool = True
    calibrate: bool = True
    probe: float | None = 0.3
    backoff: bool = True
    backoff_weight: float = 0.5
    settled: float | None = 0.05
    tail: int | None = 2

    def __post_init__(self) -> None:
        if self.tail is not None and (isinstance(self.tail, bool) or not isinstance(self.tail, int) or self.tail < 0):
            raise ValueError(
                f"`tail` must be an integer >= 0 or None, got {self.tail!r}; 2 (the default) lets roll-outs run two "
                "depths past the rest of the search, None to their end."
            )
        if not isinstance(self.per_node, int) or self.per_node < 0:
            raise ValueError(
                f"`per_node` must be an integer >= 0, got {self.per_node!r}; "
                "12 looks at the 12 heaviest dropped children."
            )
        if not 0.0 <= self.floor <= 1.0:
            raise ValueError(f"`floor` must be in [0, 1] (a fraction of eps), got {self.floor!r}; 0.01 is the default.")
        if not 0.0 <= self.backoff_weight <= 1.0:
            raise ValueError(
                f"`backoff_weight` must be in [0, 1], got {self.backoff_weight!r}; 0.5 is the default (1: the "
                "backed-off answers' whole share)."
            )
        if self.rollout is not None and not 0.0 <= self.rollout <= 1.0:
            raise ValueError(
                f"`rollout` must be in [0, 1] (a fraction of eps) or None, got {self.rollout!r}; 0.8 is the default."
            )
        if self.settled is not None and not 0.0 <= self.settled <= 0.5:
            raise ValueError(
                f"`settled` must be in [0, 0.5] or None, got {self.settled!r}; 0.05 is the default (None: roll out "
                "every heavy child)."
            )
        if self.probe is not None and not 0.0 <= self.probe <= 1.0:
            raise ValueError(
                f"`probe` must be in [0, 1] (a fraction of eps) or None, got {self.probe!r}; 0.3 is the default."
            )


def open_item(space: LabelSpace, text: str, state: PrefixState) -> tuple[frozenset[str], bool]:
    """What a prefix is writing: the labels it has written but not yet confirmed, and whether its open item may still
    be a label.

    The grammar says (its ``written(text)``; :func:`~marginal_generate.labels.grammar.written_in_slot`, through
    its slots, for a grammar without one): the estimator knows no grammar. Llama Guard has *written* ``unsafe``
    while its first line reads exactly that, or a category id the line has not confirmed yet (``S1`` may still
    become ``S10``); a label list the name its open item spells; a yes/no answer ``Yes`` before the word ends; a
    field the value its line spells. Only labels the prefix may still add count; a prefix whose label set is
    decided has no open item.

    >>> from marginal_generate.testing import word_level_tokenizer
    >>> tok = word_level_tokenizer(["safe", "unsafe", "S1", "S10", ",", "\\n", "x"])
    >>> space = LabelSpace(tok, categories=["S1", "S10"])
    >>> def item(text):
    ...     written, viable = open_item(space, text, space.prefix_state(text, finished=False))
    ...     return sorted(written), viable
    >>> item("\\n\\nunsafe"), item("unsafe\\nS1"), item("unsafe\\nS1,S10"), item("unsafe\\nS1,")
    ((['unsafe'], True), (['S1'], True), (['S10'], True), ([], True))
    >>> # repeated, junk, closed, decided
    >>> item("unsafe\\nS1,S1"), item("unsafe\\nS1x"), item("unsafe\\nS1\\n"), item("safe")
    (([], True), ([], False), ([], False), ([], False))
    """
    if not state.possible:
        return frozenset(), False
    reader = getattr(space.grammar, "written", None)
    written, viable = reader(text) if reader is not None else written_in_slot(space.grammar, text)
    return frozenset(written) & state.possible, viable


class CutEstimator:
    """Collects, during the search, what the estimate gives each label beyond the lower bound.

    The search calls :meth:`on_cut` for each cut node with its heaviest dropped children (it
    returns the children to continue greedily: ``(tokens, state, mass)``), :meth:`advance` for
    each greedy step of those roll-outs, :meth:`on_answer` for each explored answer of the tree
    (a complete answer, or a prefix whose label set can no longer change), and
    :meth:`estimate` at the end, which resolves the votes once every answer is known (calibrated per
    row by its finished roll-outs: :attr:`scales`) and tells the joint where they place each child's
    mass. ``reader``: the search's memo of prefix texts and states.
    """

    def __init__(
        self,
        space: LabelSpace,
        batch_size: int,
        eos_token_ids: set[int],
        max_new_tokens: int,
        eps: float,
        params: EstimateParams,
        reader: PrefixReader | None = None,
    ) -> None:
        self.space = space
        self.reader = reader if reader is not None else PrefixReader(space)
        self.eos_token_ids = eos_token_ids
        self.max_new_tokens = max_new_tokens
        self.params = params
        self.floor = params.floor * eps
        self.rollout_mass = params.rollout * eps if params.rollout is not None and eps > 0 else math.inf
        probing = params.probe is not None and params.rollout is not None and eps > 0
        self.probe_mass = min(params.probe * eps, self.rollout_mass) if probing else math.inf
        self.credit = [[0.0] * len(space.labels) for _ in range(batch_size)]
        self.answers: list[dict[frozenset[str], float]] = [defaultdict(float) for _ in range(batch_size)]
        # (row, what a child holds, what its cut node had confirmed, what it has written, what it may add) -> mass
        self.votes: defaultdict[tuple[int, Labels, Labels, Labels, Labels], float] = defaultdict(float)
        self._items: dict[str, tuple[Labels, Labels, Labels, tuple[int, ...]]] = {}  # per text read (_open_item)
        self._forms: dict[tuple[Labels, Labels, Labels, bool], tuple[Labels, Labels, Labels, tuple[int, ...]]] = {}
        self._rolled = [0] * batch_size  # roll-outs started per row
        self._answer_items: dict[int, tuple[list[tuple[Labels, float]], Labels]] = {}  # per row: answers, labels
        # a roll-out under way that votes would have placed: (row, its tokens) -> (holds, source, may add)
        self._live: dict[tuple[int, tuple[int, ...]], tuple[Labels, Labels, Labels]] = {}
        self._checks: list[tuple[int, Labels, Labels, Labels, float, Labels]] = []  # ... + mass, the labels it found
        self.scales: dict[int, float] = {}  # per row, the calibration of its votes (rows without a check: 1)
        self.children_read = 0
        self.rollouts = 0
        self.joint: Any = None  # a JointAccumulator (decoding/joint.py): told where each read child's mass goes

    def _give(self, row: int, labels: frozenset[str] | set[str], mass: float) -> None:
        for label in labels:
            self.credit[row][self.space.index[label]] += mass

    def on_cut(
        self, row: int, tokens: tuple[int, ...], state: PrefixState, dropped: list[tuple[int, float]], depth: int
    ) -> list[tuple[tuple[int, ...], PrefixState, float]]:
        """Read the dropped children of one cut node; return those to roll out."""
        rollouts = []
        source, credit, index = state.confirmed, self.credit[row], self.space.index
        read, items, eos, floor = self.reader.read, self._items, self.eos_token_ids, self.floor
        voting = self.params.answers
        moves: list[tuple[Labels | None, float]] = []  # where each child's mass goes in the joint, in order
        last = depth + 1 >= self.max_new_tokens
        read_here = 0
        for token, mass in dropped:
            if mass < floor or mass <= 0.0:
                continue
            read_here += 1
            child = tokens + (token,)
            finished = token in eos or last
            text, child_state = read(child, finished)
            confirmed = child_state.confirmed
            if confirmed != source:  # what it confirms beyond its node (no set built for the many that confirm nothing)
                for label in confirmed - source:
                    credit[index[label]] += mass
            if finished or not child_state.possible:
                moves.append((confirmed, mass))
                continue
            item = items.get(text)
            written, open_labels, holds, columns = item if item is not None else self._open_item(text, child_state)
            if open_labels and (
                (mass >= self.rollout_mass and not self._settled(row, holds, source, open_labels))
                or (mass >= self.probe_mass and not self._rolled[row])
            ):
                self._rolled[row] += 1
                self.rollouts += 1
                rollouts.append((child, child_state, mass))
                self._live[row, child] = (holds, source, open_labels)  # checked against the votes at its end
                moves.append((None, mass))  # placed when the roll-out ends
                continue
            for column in columns:  # what it has written
                credit[column] += mass
            if open_labels and voting:
                self.votes[row, holds, source, written, child_state.possible] += mass
            moves.append((holds, mass))  # at what it holds; the votes move it on in estimate()
        self.children_read += read_here
        if self.joint is not None and moves:
            self.joint.place(row, source, moves)
        return rollouts

    def _settled(self, row: int, holds: Labels, source: Labels, open_labels: Labels) -> bool:
        """Whether the answers explored so far already agree on each label a child may still add (it is in at most
        ``settled`` or at least ``1 - settled`` of their mass): then its votes will do and it is not rolled out."""
        if self.params.settled is None or not open_labels:
            return False
        _, total, voters = self._pool_for({}, row, holds, source)
        if total <= 0.0:
            return False
        for label in open_labels:
            share = sum(m for labels, m in voters if label in labels) / total
            if self.params.settled < share < 1.0 - self.params.settled:
                return False
        return True

    def _open_item(self, text: str, state: PrefixState) -> tuple[Labels, Labels, Labels, tuple[int, ...]]:
        """:func:`open_item` of an unfinished prefix, read once per text (the reader gives one state per text): what it
        has written, the labels it may still add beyond that (none where its open item cannot be a label), what it
        holds (confirmed and written) and the columns of what it has written."""
        item = self._items.get(text)
        if item is None:
            written, viable = open_item(self.space, text, state)
            form = (state.confirmed, state.possible, written, viable)  # texts that share a state and an item: one entry
            item = self._forms.get(form)
            if item is None:
                open_labels = state.possible - written if viable else frozenset()
                columns = tuple(map(self.space.index.__getitem__, written))
                item = self._forms[form] = (written, open_labels, state.confirmed | written, columns)
            self._items[text] = item
        return item

    def advance(
        self, row: int, tokens: tuple[int, ...], state: PrefixState, mass: float, token: int, depth: int
    ) -> tuple[tuple[int, ...], PrefixState] | None:
        """One greedy step of a roll-out; the continued prefix, or None once its label set is decided.

        A roll-out that ends becomes an explored answer of its mass: it speaks for a branch the tree
        dropped, so the lighter children that wrote the same labels find it when they vote.
        """
        child = tokens + (token,)
        finished = token in self.eos_token_ids or depth + 1 >= self.max_new_tokens
        child_state = self.reader.read(child, finished)[1]
        if child_state.confirmed != state.confirmed:
            self._give(row, child_state.confirmed - state.confirmed, mass)
        check = self._live.pop((row, tokens), None)
        if finished or child_state.final:
            if check is not None:
                self._checks.append((row, *check, mass, child_state.confirmed))
            self.on_answer(row, child_state.confirmed, mass)  # the dropped branch it stands for votes too
            if self.joint is not None:
                self.joint.arrive(row, child_state.confirmed, mass)
            return None
        if check is not None:
            self._live[row, child] = check
        return child, child_state

    def stop(self, row: int, tokens: tuple[int, ...], state: PrefixState, mass: float) -> None:
        """A roll-out stopped before its end (``EstimateParams.tail``): its mass goes to what it holds, the labels it
        has confirmed (credited as it went) and those it has written; it is no check of the votes and no answer
        that votes, since nobody saw it end."""
        self._live.pop((row, tokens), None)
        written, _, holds, _ = self._open_item(self.reader.read(tokens, False)[0], state)
        if written:
            self._give(row, written, mass)
        if self.joint is not None:
            self.joint.arrive(row, holds, mass)

    def on_answer(self, row: int, labels: frozenset[str], mass: float) -> None:
        """An explored answer (of the tree, or a finished roll-out) with its label set and mass."""
        self.answers[row][labels] += mass
        self._answer_items.pop(row, None)

    def _pool(self, row: int, holds: frozenset[str]) -> tuple[float, list[tuple[frozenset[str], float]]]:
        """The explored answers (and finished roll-outs) of ``row`` that hold ``holds``, and their mass."""
        found = self._answer_items.get(row)
        if found is None:  # one list of (labels, mass) per row until its next answer, shared by its pools
            items = list(self.answers[row].items())
            found = self._answer_items[row] = items, frozenset().union(*(labels for labels, _ in items))
        items, union = found
        if not holds <= union:  # no answer holds it (most of what children hold): the pool is empty
            return 0.0, []
        voters = [item for item in items if holds <= item[0]]
        return sum(m for _, m in voters), voters

    def _pool_for(self, pools: dict, row: int, holds: Labels, source: Labels) -> tuple[Labels, float, list]:
        """The pool that votes for a child holding ``holds`` below a node that had confirmed ``source``: the answers
        that hold ``holds``, or (``backoff``) those that hold ``source`` where none does; ``(key, mass, voters)``."""
        key, total, voters = holds, 0.0, []
        for key in (holds, source) if self.params.backoff else (holds,):
            if (row, key) not in pools:
                pools[row, key] = self._pool(row, key)
            total, voters = pools[row, key]
            if total > 0.0:
                break
        return key, total, voters

    def _calibration(self, pools: dict) -> dict[int, float]:
        """Per row, what share of the votes the roll-outs bore out: the labels the finished roll-outs added beyond what
        they had written, over what the explored answers would have voted for them (their own answer left out)."""
        said: dict[int, float] = defaultdict(float)
        found: dict[int, float] = defaultdict(float)
        counts: dict[tuple[int, Labels, Labels], float] = {}  # the pool's mass times the open labels each voter adds
        for row, holds, source, open_labels, mass, labels in self._checks:
            pool, total, voters = self._pool_for(pools, row, holds, source)
            added = len(labels & open_labels)
            own = mass if holds <= labels else 0.0  # the roll-out's own answer is in the pool: leave it out
            if total - own <= 1e-15:
                continue
            count = counts.get((row, pool, open_labels))
            if count is None:
                count = counts[row, pool, open_labels] = sum(m * len(v & open_labels) for v, m in voters)
            weight = 1.0 if pool == holds else self.params.backoff_weight  # what the votes would have said
            said[row] += weight * mass * (count - own * added) / (total - own)
            found[row] += mass * added
        return {row: min(1.0, found[row] / said[row]) for row in said if said[row] > 1e-15}

    def _resolve_votes(self) -> None:
        """Each voting child's mass, placed by the explored answers that hold what it holds (with ``backoff``, by
        those that hold what its cut node had confirmed where none does, at ``backoff_weight`` of their share): into
        the credit, and into the joint."""
        grouped, self.votes = self.votes, defaultdict(float)
        pools: dict[tuple[int, Labels], tuple[float, list[tuple[Labels, float]]]] = {}
        scales = self.scales = self._calibration(pools) if self.params.calibrate else {}
        shares: dict[tuple[int, Labels, Labels], list[tuple[Labels, float]]] = {}
        index, joint = self.space.index, self.joint
        for (row, holds, source, written, possible), mass in grouped.items():
            scale = scales.get(row, 1.0)
            if scale <= 0.0:
                continue
            pool, total, voters = self._pool_for(pools, row, holds, source)
            if total <= 0.0:
                continue
            weight = scale if pool == holds else scale * self.params.backoff_weight
            if weight <= 0.0:
                continue
            share = shares.get((row, pool, possible))
            if share is None:  # the sets the voters may still add, each with its share of a child's mass
                placed: dict[Labels, float] = defaultdict(float)
                for labels, m in voters:
                    placed[labels & possible] += m / total
                share = shares[row, pool, possible] = list(placed.items())
            credit = self.credit[row]
            moves = []
            for labels, fraction in share:
                added = labels - written
                if added:
                    given = weight * mass * fraction
                    for label in added:
                        credit[index[label]] += given
                    moves.append((added, given))
            if joint is not None and moves:
                joint.spread(row, holds, moves)

    def estimate(self, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
        """``lower`` plus what the dropped mass gives each label, kept inside ``[lower, upper]``."""
        self._resolve_votes()
        extra = torch.tensor(self.credit, dtype=torch.float64, device=lower.device)
        return torch.minimum(torch.maximum(lower + extra, lower), upper)

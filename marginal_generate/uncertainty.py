r"""The seed repository's uncertainty baselines: force ``unsafe\nS``, then pick one or two categories.

The answer is forced to start as the model writes an unsafe verdict: its lead (``"\n\n"`` after
a Llama Guard 3 assistant header), ``unsafe``, a newline and the tokens all category ids share
(``S`` when ``S1`` is ``S`` + ``1``; nothing when each id is one token). The next-token
distribution there, restricted to the ids' distinguishing tokens (:attr:`LabelSpace.branch`),
ranks the categories; an uncertainty of that distribution decides between the top one and the top
two categories (``uncertainty > threshold`` → two). Three measures:

- ``probability_uncertainty``: :math:`1 - \max_k p_k`;
- ``entropy_uncertainty``: :math:`-\sum_k p_k \log p_k` (nats);
- ``logtoku`` (LogTokU, Ma et al. 2025, "Estimating LLM Uncertainty with Evidence"): the logits
  :math:`z_k` of the category tokens are Dirichlet evidence :math:`\alpha_k = \max(z_k, 0)`,
  :math:`\alpha_0 = \sum_k \alpha_k`; aleatoric uncertainty
  :math:`AU = -\sum_k \frac{\alpha_k}{\alpha_0}\,(\psi(\alpha_k + 1) - \psi(\alpha_0 + 1))` (the expected
  entropy, high when the evidence is spread over several ids: several categories apply) decides;
  the epistemic :math:`EU = K / \sum_k (\alpha_k + 1)` is reported beside it. With no evidence at all
  (every logit <= 0) AU is 0 and EU is 1.

Categories are predicted only for prompts the model calls unsafe (``p(unsafe) >= 0.5`` over the
verbalizer tokens where the forced answer's first word starts, as ``first_token`` reads it); on
the seed's all-unsafe data this is the seed's rule. The threshold is chosen on a validation split
(:func:`select_threshold`), never on the scored samples (the seed code picks it on the very samples
it scores). Ids sharing a distinguishing token (``S1`` and ``S10`` when digits are split one by one)
share its probability and are chosen together.

One batched pass: a :class:`~marginal_generate.decoding.stepper.CachedStepper` prefills the
prompts, then feeds the forced tokens one step per token for the whole batch.

>>> from marginal_generate.testing import byte_level_tokenizer
>>> from marginal_generate.labels.space import LabelSpace
>>> tok = byte_level_tokenizer()
>>> fa = forced_answer(LabelSpace.llama_guard(tok), lead="\n\n")
>>> [tok.decode([t]) for t in fa.tokens], fa.verbalizer_position
(['\n\n', 'unsafe', '\n', 'S'], 1)
>>> # evidence (3, 3, 0): psi(7) - psi(4) = 1/4 + 1/5 + 1/6
>>> round(float(logtoku(torch.tensor([[3.0, 3.0, -1.0]]))[0][0]), 4)
0.6167
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from .decoding.stepper import CachedStepper
from .labels.space import LabelSpace
from .scores import LabelScores
from .strategies import UNCERTAINTY_STRATEGIES

__all__ = [
    "UncertaintyMethod",
    "predict_labels",
    "UNCERTAINTY_METHODS",
    "DEFAULT_LEADS",
    "ForcedAnswer",
    "forced_answer",
    "logtoku",
    "UncertaintyScores",
    "uncertainty_scores",
    "select_threshold",
]

UncertaintyMethod = Literal["probability_uncertainty", "entropy_uncertainty", "logtoku"]
UNCERTAINTY_METHODS: tuple[str, ...] = UNCERTAINTY_STRATEGIES
#: Candidate leads for ``lead="auto"``: what a guard model writes before its verdict.
DEFAULT_LEADS: tuple[str, ...] = ("\n\n", "\n", " ", "")


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass(frozen=True)
class ForcedAnswer:
    """The forced answer start for one lead.

    Attributes:
        lead: the text before the verdict word.
        tokens: the forced tokens (lead, ``unsafe``, newline, the ids' shared tokens).
        verbalizer_position: index into ``tokens`` of the verdict word's first token (the logits
            before it give ``p(unsafe)``).
        branch: category id → its distinguishing token (the next token after ``tokens``).
    """

    lead: str
    tokens: tuple[int, ...]
    verbalizer_position: int
    branch: dict[str, int]

    @property
    def branch_ids(self) -> list[int]:
        """The distinct distinguishing tokens, in increasing id order."""
        return sorted(set(self.branch.values()))


def forced_answer(space: LabelSpace, lead: str = "\n\n") -> ForcedAnswer:
    """Tokens of ``lead + "unsafe\\n" + <shared start of the ids>`` as the whole answer is tokenized.

    Each full answer ``lead + "unsafe\\n" + id`` is encoded on its own (in context, so merges across
    the newline or the lead count); the forced tokens are their longest common prefix.
    """
    tok = space.tokenizer
    head = f"{lead}{space.positive}\n"
    seqs = {c: _encode(tok, head + c) for c in space.categories}
    lead_ids = _encode(tok, lead) if lead else []
    first = next(iter(seqs.values()))
    common = 0
    while all(len(s) > common + 1 and s[common] == first[common] for s in seqs.values()):
        common += 1
    tokens = tuple(first[:common])
    v = len(lead_ids)
    positive = set(space.verbalizer_ids[1])
    if tokens[:v] != tuple(lead_ids) or v >= len(tokens) or tokens[v] not in positive:
        raise ValueError(
            f"`lead` {lead!r}: the answer {head!r} + id does not tokenize as lead, then {space.positive!r} "
            f"(got {[tok.decode([t]) for t in tokens]}); pick the lead the model writes before its verdict, "
            f"e.g. one of {list(DEFAULT_LEADS)}, or lead='auto'."
        )
    return ForcedAnswer(lead, tokens, v, {c: s[common] for c, s in seqs.items()})


def logtoku(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LogTokU's ``(aleatoric, epistemic)`` uncertainty of each row of ``[batch, K]`` logits.

    >>> au, eu = logtoku(torch.tensor([[10.0, 0.0], [-1.0, -2.0]]))
    >>> [round(float(x), 4) for x in au], [round(float(x), 4) for x in eu]
    ([0.0, 0.0], [0.1667, 1.0])
    """
    alpha = logits.double().clamp(min=0.0)
    alpha0 = alpha.sum(-1, keepdim=True)
    k = alpha.shape[-1]
    share = torch.where(alpha0 > 0, alpha / alpha0.clamp(min=1e-300), torch.full_like(alpha, 1.0 / k))
    aleatoric = -(share * (torch.digamma(alpha + 1) - torch.digamma(alpha0 + 1))).sum(-1) + 0.0  # no -0.0
    epistemic = k / (alpha0.squeeze(-1) + k)
    return aleatoric, epistemic


@dataclass
class UncertaintyScores:
    """What one forced pass gives for a batch; :meth:`predict` applies a method and a threshold.

    Attributes:
        labels: ``("unsafe", *categories)``.
        p_unsafe: ``[batch]`` p(unsafe) over the verbalizer tokens where the verdict word starts.
        category_probs: ``[batch, K]`` each category's probability in the restricted softmax over
            the distinguishing tokens (ids sharing a token share its value).
        uncertainty: method → ``[batch]`` uncertainty (``logtoku`` is the aleatoric one), plus
            ``"logtoku_epistemic"``.
        top1, top2: ``[batch, K]`` 0/1: the categories of the most probable and of the two most
            probable distinguishing tokens.
        leads: the lead forced for each prompt.
    """

    labels: tuple[str, ...]
    p_unsafe: torch.Tensor
    category_probs: torch.Tensor
    uncertainty: dict[str, torch.Tensor]
    top1: torch.Tensor
    top2: torch.Tensor
    leads: list[str]

    def predict(self, method: str, threshold: float) -> torch.Tensor:
        """``[batch, 1 + K]`` 0/1: unsafe where ``p_unsafe >= 0.5``; then top 1, or top 2 if uncertainty > threshold."""
        _check_method(method)
        return torch.from_numpy(
            predict_labels(
                self.p_unsafe.numpy(), self.top1.numpy(), self.top2.numpy(), self.uncertainty[method].numpy(), threshold
            )
        )

    def to_label_scores(self, method: str) -> LabelScores:
        """Scores for ranking and calibration metrics: ``p(unsafe)`` and ``p(unsafe) * p(category)``."""
        _check_method(method)
        probs = torch.cat([self.p_unsafe[:, None], self.p_unsafe[:, None] * self.category_probs], dim=1)
        stats = {"leads": list(self.leads)}
        return LabelScores(labels=self.labels, probs=probs, texts=[""] * len(self.leads), strategy=method, stats=stats)


def _check_method(method: str) -> None:
    if method not in UNCERTAINTY_METHODS:
        raise ValueError(f"`method` must be one of {list(UNCERTAINTY_METHODS)}, got {method!r}.")


def predict_labels(
    p_unsafe: np.ndarray, top1: np.ndarray, top2: np.ndarray, u: np.ndarray, threshold: float
) -> np.ndarray:
    """0/1 predictions ``[n, 1 + k]``: unsafe where ``p_unsafe >= 0.5``, then the top-1 categories, or the
    top-2 where the uncertainty ``u`` is above ``threshold`` (the dynamic top-1/top-2 choice); none when safe.

    >>> predict_labels(np.array([0.9, 0.2]), np.array([[1, 0], [1, 0]]), np.array([[1, 1], [1, 1]]),
    ...                np.array([0.8, 0.8]), 0.5).tolist()
    [[1, 1, 1], [0, 0, 0]]
    """
    gate = (p_unsafe >= 0.5)[:, None]
    cats = np.where((u > threshold)[:, None], top2, top1) * gate
    return np.concatenate([gate.astype(np.int64), cats.astype(np.int64)], axis=1)


def _choose_leads(logits: torch.Tensor, answers: dict[str, ForcedAnswer], space: LabelSpace) -> list[str]:
    """Per prompt, the lead whose first token(s) the model finds most probable at the prompt's end."""
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    names = list(answers)
    scores = []
    for lead in names:
        firsts = {_encode(space.tokenizer, lead + w)[0] for w in (space.negative, space.positive)}
        scores.append(torch.logsumexp(logprobs[:, sorted(firsts)], dim=-1))
    best = torch.stack(scores, dim=1).argmax(dim=1)  # ties → the first candidate
    return [names[int(b)] for b in best]


@torch.no_grad()
def uncertainty_scores(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    label_space: LabelSpace,
    *,
    lead: str = "auto",
    leads: Sequence[str] = DEFAULT_LEADS,
    top_k: int | None = None,
) -> UncertaintyScores:
    """Force each prompt's answer to ``<lead>unsafe\\n<shared id tokens>`` and read the category distribution.

    Args:
        model: a causal LM; ``input_ids`` / ``attention_mask``: a left-padded batch of prompts.
        label_space: the labels (:meth:`LabelSpace.llama_guard`).
        lead: the text the model writes before its verdict (``"\\n\\n"`` for Llama Guard 3), or
            ``"auto"``: per prompt, the candidate of ``leads`` whose first token is most probable there.
        top_k: LogTokU evidence from the ``top_k`` largest category logits only (default: all).
    """
    if not isinstance(label_space, LabelSpace):
        raise ValueError(
            f"`label_space` must be a LabelSpace, got {type(label_space).__name__}; "
            "use LabelSpace.llama_guard(tokenizer)."
        )
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"`top_k` must be None or an integer >= 1, got {top_k!r}.")
    if lead == "auto":
        answers = {}
        for candidate in leads:
            try:
                answers[candidate] = forced_answer(label_space, candidate)
            except ValueError:
                continue
        if not answers:
            raise ValueError(
                f"none of the leads {list(leads)} gives a clean forced answer with this tokenizer; pass `lead=`."
            )
    else:
        answers = {lead: forced_answer(label_space, lead)}
    branch_ids = next(iter(answers.values())).branch_ids
    if any(a.branch_ids != branch_ids for a in answers.values()):
        raise ValueError(
            "the category ids' distinguishing tokens depend on the lead with this tokenizer; pass one `lead=`."
        )
    stepper = CachedStepper(model, input_ids, attention_mask)
    prompt_logits = stepper.prefill()
    chosen = (
        _choose_leads(prompt_logits, answers, label_space)
        if len(answers) > 1
        else [next(iter(answers))] * input_ids.shape[0]
    )
    forced = [answers[c] for c in chosen]
    batch = input_ids.shape[0]
    verdict_logits: list[torch.Tensor | None] = [
        prompt_logits[i] if f.verbalizer_position == 0 else None for i, f in enumerate(forced)
    ]
    final_logits: list[torch.Tensor | None] = [None] * batch
    rows = torch.arange(batch, device=input_ids.device)
    for k in range(max(len(f.tokens) for f in forced)):
        step_tokens = torch.tensor([f.tokens[min(k, len(f.tokens) - 1)] for f in forced], device=input_ids.device)
        logits = stepper.step(rows, step_tokens)
        for i, f in enumerate(forced):
            if k + 1 == f.verbalizer_position:
                verdict_logits[i] = logits[i]
            if k + 1 == len(f.tokens):
                final_logits[i] = logits[i]
    verdict = torch.stack([v for v in verdict_logits if v is not None]).double()
    final = torch.stack([v for v in final_logits if v is not None]).double()
    negative, positive = label_space.verbalizer_ids
    verdict_lp = torch.log_softmax(verdict, dim=-1)
    p_unsafe = torch.sigmoid(
        torch.logsumexp(verdict_lp[:, list(positive)], -1) - torch.logsumexp(verdict_lp[:, list(negative)], -1)
    )
    return _from_branch_logits(
        label_space, forced[0].branch, branch_ids, final[:, branch_ids].cpu(), p_unsafe.cpu(), chosen, top_k
    )


def _from_branch_logits(
    space: LabelSpace,
    branch: dict[str, int],
    branch_ids: list[int],
    z: torch.Tensor,
    p_unsafe: torch.Tensor,
    chosen: list[str],
    top_k: int | None,
) -> UncertaintyScores:
    """The measures from the logits ``z`` ``[batch, T]`` of the distinct distinguishing tokens."""
    p = torch.softmax(z, dim=-1)
    column = {t: j for j, t in enumerate(branch_ids)}
    cat_cols = torch.tensor([column[branch[c]] for c in space.categories])
    category_probs = p[:, cat_cols]
    entropy = -(p * torch.log(p.clamp(min=1e-300))).sum(-1)
    ranked = torch.argsort(-p, dim=-1, stable=True)
    top1 = (cat_cols[None, :] == ranked[:, :1]).to(torch.int64)
    top2 = (cat_cols[None, :, None] == ranked[:, None, :2]).any(-1).to(torch.int64)
    evidence = z if top_k is None else torch.topk(z, min(top_k, z.shape[-1]), dim=-1).values
    aleatoric, epistemic = logtoku(evidence)
    return UncertaintyScores(
        labels=space.labels,
        p_unsafe=p_unsafe,
        category_probs=category_probs,
        uncertainty={
            "probability_uncertainty": 1.0 - p.max(-1).values,
            "entropy_uncertainty": entropy,
            "logtoku": aleatoric,
            "logtoku_epistemic": epistemic,
        },
        top1=top1,
        top2=top2,
        leads=list(chosen),
    )


def select_threshold(uncertainty: Any, top1: Any, top2: Any, p_unsafe: Any, references: Any) -> tuple[float, float]:
    """The uncertainty threshold with the best category micro-F1 on validation data, and that F1.

    Candidates: each observed uncertainty (``u > t`` takes the top two) and ``-1`` (always the top
    two); ties go to the largest threshold (fewest top-two answers). ``references``: ``[n, K]`` 0/1.

    >>> u = np.array([0.1, 0.9, 0.8]); p = np.ones(3)
    >>> top1 = np.array([[1, 0], [1, 0], [0, 1]]); top2 = np.ones((3, 2), dtype=int)
    >>> select_threshold(u, top1, top2, p, np.array([[1, 0], [1, 1], [1, 1]]))
    (0.1, 1.0)
    """
    u = np.asarray(uncertainty, dtype=np.float64)
    t1, t2, pu, y = (np.asarray(a) for a in (top1, top2, p_unsafe, references))
    if not (len(u) == len(t1) == len(t2) == len(pu) == len(y)) or len(u) == 0:
        raise ValueError(
            f"select_threshold needs the same non-zero number of validation samples in every argument, got "
            f"{[len(a) for a in (u, t1, t2, pu, y)]}; is the validation split empty?"
        )
    best_t, best_f1 = -1.0, -1.0
    for t in sorted({-1.0, *u.tolist()}, reverse=True):
        pred = predict_labels(pu, t1, t2, u, t)[:, 1:]
        tp = int((pred & (y == 1)).sum())
        denom = int(pred.sum() + (y == 1).sum())
        f1 = 2 * tp / denom if denom else 0.0
        if f1 > best_f1 + 1e-12:
            best_t, best_f1 = float(t), f1
    return best_t, best_f1

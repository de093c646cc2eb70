"""How close any_place's `probs` is to the exact value, for each candidate estimate, and what it costs.

The exact value: a walk of every prefix of the output tree down to probability ``--exact-eps``
(1e-6) with no nucleus (``top_p=1``), which brackets P(label in the answer's label set) between its
own lower and upper bounds. The distance of a value to the exact value is its distance to that
bracket (0 inside it). Every candidate runs the same search at the default cut (``eps=0.01``,
``top_p=0.99``); they differ only in where they place the mass the cut drops:

- ``lower``: nothing (the certified lower bound; what ``probs`` held before ``estimate=``);
- ``next token``: each of the heaviest dropped children of a cut node gives its mass to the label
  its token confirms (exact) or writes (``S`` + ``7``, not yet closed by a delimiter): the parent's
  next-token distribution spread over the labels;
- ``+ answers``: the labels a dropped child may still add, from the explored answers that contain
  what the child has written;
- ``+ roll-outs r``: dropped children at least ``r * eps`` heavy that may still add a label continued greedily to
  the end (``+ roll-outs 0.8`` is the estimate before #29's goals);
- ``+ backoff``: a child that no explored answer holding what it holds can vote for gets the votes of those that
  hold what its cut node had confirmed;
- ``+ calibrated``: each prompt's votes scaled by how far its finished roll-outs bore them out;
- ``+ probes 0.3``: a prompt with no roll-out yet rolls out its first voting child from ``0.3 * eps``, so that
  its votes have a check;
- ``+ settled 0.05``: a heavy child is voted for instead of rolled out when the answers explored so far agree on
  each label it may add (in at most 5% or at least 95% of their mass): the estimate before #29's goals (8 children
  per cut node from ``0.05 * eps``, backed-off votes at their whole share; ``BEFORE``);
- ``+ floor 0.01, 12 per node``: the 12 heaviest dropped children of a cut node read, from ``0.01 * eps``;
- ``+ backoff 0.5``: the backed-off votes at half their share: the default, ``EstimateParams()``;
- ``best``: ``mg.score(..., estimate="best")``, the default.

Cost: ``today`` runs the search as it was before the estimate (the lower bound, each prefix
decoded and parsed every time it comes up); ``lower`` is the same search with the prefix memo
that came with the estimate. Prints one table (mean distance over every label of every prompt, on
the unsafe and the benign prompts, the largest, whether the bounds still contain the exact value,
roll-outs, rows fed, CPU and wall time and their ratios to ``today`` and ``lower`` measured in the
same run: interleaved repeats, best of each), then the worst entry of ``lower`` and of ``best``.

    python benchmarks/any_place_estimate.py                    # held-out block 0: 30 unsafe + 15 benign prompts
    python benchmarks/any_place_estimate.py --block 1          # the next 30 + 15 (not used to choose the defaults)
    python benchmarks/any_place_estimate.py --grammar all      # one row per grammar: estimate vs lower vs exact

Per grammar (``--grammar label_list|yes_no|wildguard|llama_guard|all``): the estimate (``EstimateParams()``, or
with ``--rollout r`` ``EstimateParams(rollout=r)``, with ``--before`` the estimate before #29's goals), its roll-outs
and rows fed,
the lower bound and what ``mg.score`` reports (``probs``: the estimate, or the lower bound for a grammar where
the estimate falls back to it) against the exact bracket at the default cut. Llama Guard runs on the embedded
model's held-out block; the other grammars on tiny random Llamas over a byte-level BPE tokenizer trained on the
grammar's answers, with planted next-token distributions (:func:`planted_case`: a bigram table of weighted
answers added to the model's logits, so every prompt and context shapes them differently).

Everything is computed in the run (the embedded model may change); the exact walk takes a few
minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import machine  # noqa: E402

import marginal_generate as mg  # noqa: E402
from marginal_generate.decoding.estimate import EstimateParams  # noqa: E402
from marginal_generate.decoding.greedy_path import GreedyRecorder  # noqa: E402
from marginal_generate.decoding.prefixes import PrefixReader  # noqa: E402
from marginal_generate.decoding.search import SearchResult, TreeParams, run_search  # noqa: E402
from marginal_generate.decoding.stepper import CachedStepper  # noqa: E402
from marginal_generate.prompts import encode_conversations  # noqa: E402

#: What the estimate read and how it backed off before #29's goals (the history rows below keep it).
BEFORE = dict(per_node=8, floor=0.05, backoff_weight=1.0)
CANDIDATES: dict[str, EstimateParams | None] = {
    "today": None,
    "lower": None,
    "next token": EstimateParams(**BEFORE, rollout=None, answers=False),
    "next token + answers": EstimateParams(**BEFORE, rollout=None, calibrate=False, backoff=False),
    "+ roll-outs 0.8": EstimateParams(**BEFORE, calibrate=False, probe=None, backoff=False, settled=None),
    "+ roll-outs 0.8 + backoff": EstimateParams(**BEFORE, calibrate=False, probe=None, settled=None),
    "+ calibrated": EstimateParams(**BEFORE, probe=None, settled=None),
    "+ probes 0.3": EstimateParams(**BEFORE, settled=None),
    "+ settled 0.05": EstimateParams(**BEFORE),
    "+ floor 0.01, 12 per node": EstimateParams(backoff_weight=1.0),
    "+ backoff 0.5 (default)": EstimateParams(),
    "default, roll-outs 0.5": EstimateParams(rollout=0.5),
}


GRAMMARS = ("llama_guard", "label_list", "yes_no", "wildguard")
EMOTIONS = ["joy", "anger", "anticipation", "sad", "sadness"]
#: The answers each planted model writes (a bigram table over their tokens, so it mixes them too).
PLANTED_ANSWERS: dict[str, list[str]] = {
    "label_list": [
        "joy",
        "anger",
        "sadness",
        "sad",
        "anticipation",
        "none",
        "joy, anger",
        "anger, sadness",
        "sad, anticipation",
        "joy, sadness, anger",
        "anticipation, joy",
        "sadness, sad",
        "anger, joy, sad",
    ],
    "yes_no": ["Yes", "No", "Yes, it does", "No, it does not", "Yes.", "No.", " Yes", "\nNo", "\nYes"],
    "wildguard": [
        f"Harmful request: {a}\nResponse refusal: {b}\nHarmful response: {c}"
        for a in ("yes", "no")
        for b in ("yes", "no")
        for c in ("yes", "no")
    ],
}
PLANTED_DEPTH = {"label_list": 12, "yes_no": 6, "wildguard": 24}
WORDS = "the a bread knife river hurt help how why kill cook love hate plan sad happy angry wait".split()


def planted_space(grammar: str, tok):
    from marginal_generate.labels.fields import WILDGUARD_FIELDS

    if grammar == "label_list":
        return mg.LabelSpace.label_list(tok, EMOTIONS)
    if grammar == "yes_no":
        return mg.LabelSpace.yes_no(tok, "harm")
    return mg.LabelSpace.fields(tok, WILDGUARD_FIELDS)


PROMPT_TOKENS = 12  # every planted prompt has this many tokens, so a position is a place in the answer


def planted_case(
    grammar: str, prompts: int, seed: int = 0, logit_scale: float = 1.0, skew: float = 1.0, tail: float = 0.05
):
    """(model, tokenizer, space, eos ids, input_ids, attention_mask) of one planted grammar model.

    The tokenizer is trained on the answers; the model is a random tiny Llama whose logits get
    ``log P(next | place in the answer, previous token)``, counted over :data:`PLANTED_ANSWERS` (each answer with
    a random weight, raised to ``skew``), and -30 for every other token. Keyed by place and token, the table
    follows the answers' trie (WildGuard's fields stay in order) while still mixing answers that meet at the same
    place and token (``joy, `` then any label); the random logits (``logit_scale``) reshape each step's
    distribution by prompt and context, within a factor ``exp(±2 logit_scale)`` or so. ``tail``: the mass each
    step gives the other tokens the answers use (spread evenly): the slips a real model makes, which the cut drops;
    a slip leaves the answers' trie, where the table ends the answer (EOS).
    """
    from marginal_generate.testing import byte_level_tokenizer, tiny_llama

    answers = PLANTED_ANSWERS[grammar]
    rng = torch.Generator().manual_seed(seed)
    words = [" ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (8,), generator=rng)) for _ in range(prompts)]
    tok = byte_level_tokenizer(answers * 10 + EMOTIONS * 5 + [f"Text: {w}" for w in words], vocab_size=90)
    weights = (torch.rand(len(answers), generator=rng) + 0.2) ** skew
    start, eos = tok.bos_token_id, tok.eos_token_id
    counts: dict[tuple[int, int], dict[int, float]] = {}
    for answer, weight in zip(answers, weights.tolist()):
        ids = [start, *tok(answer, add_special_tokens=False)["input_ids"], eos]
        for place, (a, b) in enumerate(zip(ids, ids[1:])):
            counts.setdefault((place, a), {}).setdefault(b, 0.0)
            counts[place, a][b] += weight
    keys = sorted(counts)
    used = sorted({b for row in counts.values() for b in row})
    probs = torch.zeros((len(keys) + 1, len(tok)), dtype=torch.float64)
    for k, key in enumerate(keys):
        total = sum(counts[key].values())
        for b, c in counts[key].items():
            probs[k, b] = (1 - tail) * c / total
        probs[k, used] += tail / len(used)
    rows = probs.log().clamp(min=-30.0)
    rows[-1, eos] = 0.0  # anywhere no answer goes: end
    places = max(PLANTED_DEPTH[grammar], *(place for place, _ in keys)) + 2
    index = torch.full((places, len(tok)), len(keys), dtype=torch.long)
    for k, (place, a) in enumerate(keys):
        index[place, a] = k
    model = tiny_llama(tok, seed=seed, hidden_size=16, logit_scale=logit_scale, dtype=torch.float64)

    def add_bias(_module, args, kwargs, output):
        ids = kwargs.get("input_ids", args[0] if args else None)
        n = output.logits.shape[1]
        place = (kwargs["position_ids"][:, -n:] - (PROMPT_TOKENS - 1)).clamp(0, places - 1)
        output.logits = output.logits + rows[index[place, ids[:, -n:]]]
        return output

    model.register_forward_hook(add_bias, with_kwargs=True)
    filler = tok(" a", add_special_tokens=False)["input_ids"]
    prompt_ids = []
    for w in words:
        text = tok(f"Text: {w}", add_special_tokens=False)["input_ids"]
        prompt_ids.append((text + filler * PROMPT_TOKENS)[: PROMPT_TOKENS - 1] + [start])
    input_ids = torch.tensor(prompt_ids)
    return model, tok, planted_space(grammar, tok), {eos}, input_ids, torch.ones_like(input_ids)


def select(records: list, unsafe: int, benign: int, block: int) -> list:
    """Block ``block`` of the held-out records: ``unsafe`` unsafe ones, then ``benign`` benign ones."""
    bad = [r for r in records if not r.is_safe][unsafe * block : unsafe * (block + 1)]
    good = [r for r in records if r.is_safe][benign * block : benign * (block + 1)]
    return bad + good


class Unremembered(PrefixReader):
    """Decodes and parses a prefix every time it comes up, as the search did before the estimate."""

    def read(self, tokens, finished):
        text = self.space.decode(tokens)
        return text, self.space.prefix_state(text, finished)


@torch.no_grad()
def search(
    model,
    space,
    eos,
    input_ids,
    attention_mask,
    tree: TreeParams,
    max_new_tokens: int,
    reader: PrefixReader | None = None,
) -> SearchResult:
    """One any_place search (batched cache, what ``attention="auto"`` runs on a CPU)."""
    stepper = CachedStepper(model, input_ids, attention_mask)
    recorder = GreedyRecorder(space, input_ids.shape[0], eos)
    return run_search(stepper, space, eos, max_new_tokens, tree, recorder, reader=reader)


def distance(values: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Distance of each value to the bracket ``[low, high]`` (0 inside it)."""
    return (low - values).clamp(min=0) + (values - high).clamp(min=0)


def embedded_case(args: argparse.Namespace):
    """(model, space, eos ids, input_ids, attention_mask, unsafe prompts) of the embedded model's held-out block."""
    model, tok = mg.load_default()
    eos_id = model.generation_config.eos_token_id
    eos = {eos_id} if isinstance(eos_id, int) else set(eos_id)
    records = select(mg.load_default_eval_data(), args.unsafe, args.benign, args.block)
    inputs = encode_conversations(tok, [r.conversation for r in records])
    unsafe = sum(not r.is_safe for r in records)
    return model, mg.LabelSpace.llama_guard(tok), eos, inputs["input_ids"], inputs["attention_mask"], unsafe


def exact_bracket(model, space, eos, ids, mask, depth: int, args: argparse.Namespace):
    """The exact walk's ``(lower, upper, seconds)``: every prefix down to ``--exact-eps``, no nucleus, in parts of
    ``--exact-batch`` prompts."""
    start = time.perf_counter()
    tree = TreeParams(1.0, args.exact_eps)
    walks = [
        search(model, space, eos, ids[i : i + args.exact_batch], mask[i : i + args.exact_batch], tree, depth)
        for i in range(0, ids.shape[0], args.exact_batch)
    ]
    low, high = torch.cat([w.lower for w in walks]), torch.cat([w.upper for w in walks])
    return low, high, time.perf_counter() - start


def public_scores(model, space, eos, ids, mask, depth: int, args: argparse.Namespace) -> mg.LabelScores:
    """What ``mg.score`` reports for any_place at the cut (``estimate="best"``)."""
    return mg.score(
        model,
        ids,
        mask,
        space,
        ["any_place"],
        eps=args.eps,
        top_p=args.top_p,
        max_new_tokens=depth,
        eos_token_ids=eos,
    )["any_place"]


@torch.no_grad()
def grammar_row(grammar: str, args: argparse.Namespace) -> dict:
    """The estimate, the lower bound and ``mg.score``'s ``probs`` of one grammar against its exact bracket."""
    if grammar == "llama_guard":
        model, space, eos, ids, mask, _ = embedded_case(args)
        depth = args.max_new_tokens
        described = f"embedded tiny guard, held-out block {args.block}"
    else:
        model, tok, space, eos, ids, mask = planted_case(grammar, args.prompts, args.seed)
        depth = PLANTED_DEPTH[grammar]
        described = f"planted tiny Llama, vocab {len(tok)}, seed {args.seed}"
    low, high, seconds = exact_bracket(model, space, eos, ids, mask, depth, args)
    params = grammar_params(args)
    cut = search(model, space, eos, ids, mask, TreeParams(args.top_p, args.eps, params), depth)
    public = public_scores(model, space, eos, ids, mask, depth, args)
    assert cut.estimate is not None
    ok = bool(
        (cut.lower <= high + 1e-9).all()
        and (low <= cut.upper + 1e-9).all()
        and (cut.lower <= public.probs).all()
        and (public.probs <= cut.upper).all()
    )
    distances = {
        name: distance(v, low, high)
        for name, v in (("lower", cut.lower), ("estimate", cut.estimate), ("probs", public.probs))
    }
    return {
        "grammar": grammar,
        "model": described,
        "prompts": ids.shape[0],
        "labels": len(space.labels),
        "width": float((high - low).mean()),
        "exact_mass": float(low.mean()),
        "seconds": seconds,
        "ok": ok,
        "probs_is": public.estimate,
        "rollouts": cut.rollouts,
        "rows": sum(cut.frontier_widths),
        **{f"{name} mean": float(d.mean()) for name, d in distances.items()},
        **{f"{name} max": float(d.max()) for name, d in distances.items()},
    }


def grammar_params(args: argparse.Namespace) -> EstimateParams:
    """The per-grammar table's estimate: the default, ``--before`` the one before #29's goals, ``--rollout r``."""
    base = BEFORE if args.before else {}
    return EstimateParams(**base) if args.rollout is None else EstimateParams(**base, rollout=args.rollout)


def grammar_table(grammars: list[str], args: argparse.Namespace) -> None:
    """One row per grammar: mean and largest distance to the exact bracket of the lower bound, the estimate and
    ``mg.score``'s ``probs`` at the cut (``probs is``: what ``LabelScores.estimate`` says it holds)."""
    print(
        f"{machine()} | cut eps={args.eps} "
        f"top_p={args.top_p} | exact: eps={args.exact_eps} top_p=1 | estimate: "
        f"{grammar_params(args)}"
    )
    print()
    header = (
        f"| {'grammar':11} | {'model':42} | {'prompts x labels':>16} | {'exact mean':>10} | {'bracket':>7} |"
        f" {'lower mean':>10} | {'lower max':>9} | {'estimate mean':>13} | {'estimate max':>12} | {'roll-outs':>9} |"
        f" {'rows':>5} |"
        f" {'probs mean':>10} | {'probs is':>8} | {'bounds ok':>9} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for grammar in grammars:
        r = grammar_row(grammar, args)
        print(
            f"| {grammar:11} | {r['model']:42} | {r['prompts']:>7} x {r['labels']:>6} | {r['exact_mass']:10.4f} |"
            f" {r['width']:7.5f} | {r['lower mean']:10.5f} | {r['lower max']:9.4f} | {r['estimate mean']:13.5f} |"
            f" {r['estimate max']:12.4f} | {r['rollouts']:9d} | {r['rows']:5d} | {r['probs mean']:10.5f} |"
            f" {r['probs_is']:>8} |"
            f" {r['ok']!s:>9} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--unsafe", type=int, default=30, help="unsafe held-out prompts per block")
    parser.add_argument("--benign", type=int, default=15, help="benign held-out prompts per block")
    parser.add_argument("--block", type=int, default=0)
    parser.add_argument("--eps", type=float, default=0.01)
    parser.add_argument("--top-p", type=float, default=0.99)
    parser.add_argument("--exact-eps", type=float, default=1e-6)
    parser.add_argument("--exact-batch", type=int, default=15, help="prompts per exact walk (bounds its memory)")
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--grammar",
        choices=[*GRAMMARS, "all"],
        default=None,
        help="a table per grammar (estimate vs lower bound vs exact) instead of the Llama Guard candidates",
    )
    parser.add_argument("--prompts", type=int, default=40, help="prompts of each planted grammar model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the planted grammar models")
    parser.add_argument(
        "--rollout", type=float, default=None, help="the per-grammar estimate's EstimateParams.rollout (default: 0.8)"
    )
    parser.add_argument(
        "--before", action="store_true", help="the per-grammar estimate as before #29's goals (BEFORE's parameters)"
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    if args.grammar is not None:
        grammar_table(list(GRAMMARS) if args.grammar == "all" else [args.grammar], args)
        return
    model, space, eos, ids, mask, n_unsafe = embedded_case(args)
    low, high, exact_seconds = exact_bracket(model, space, eos, ids, mask, args.max_new_tokens, args)

    results: dict[str, SearchResult] = {}
    wall: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    cpu: dict[str, list[float]] = {name: [] for name in CANDIDATES}

    def reader(name: str) -> PrefixReader | None:
        return Unremembered(space) if name == "today" else None

    for name, params in CANDIDATES.items():  # warm-up
        search(
            model, space, eos, ids, mask, TreeParams(args.top_p, args.eps, params), args.max_new_tokens, reader(name)
        )
    for _ in range(args.repeats):
        for name, params in CANDIDATES.items():
            tree = TreeParams(args.top_p, args.eps, params)
            w, c = time.perf_counter(), time.process_time()
            results[name] = search(model, space, eos, ids, mask, tree, args.max_new_tokens, reader(name))
            cpu[name].append(time.process_time() - c)
            wall[name].append(time.perf_counter() - w)
    public = public_scores(model, space, eos, ids, mask, args.max_new_tokens, args)

    print(f"model: embedded tiny guard | {machine()}")
    print(
        f"held-out block {args.block}: {n_unsafe} unsafe + {ids.shape[0] - n_unsafe} benign prompts, "
        f"{len(space.labels)} labels | cut eps={args.eps} top_p={args.top_p} | exact: eps={args.exact_eps} top_p=1, "
        f"bracket width mean {float((high - low).mean()):.4f} max {float((high - low).max()):.4f} "
        f"({exact_seconds:.0f} s)"
    )
    print()
    header = (
        f"| {'candidate':34} | {'mean dist':>9} | {'unsafe':>7} | {'benign':>7} | {'max':>6} | {'bounds ok':>9} |"
        f" {'roll-outs':>9} | {'rows':>5} | {'cpu s':>6} | {'x today':>7} | {'x lower':>7} | {'wall s':>6} |"
        f" {'x today':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    today_cpu, base_cpu, today_wall = min(cpu["today"]), min(cpu["lower"]), min(wall["today"])
    for name, result in results.items():
        values = result.estimate if result.estimate is not None else result.lower
        d = distance(values, low, high)
        ok = bool(
            (result.lower <= high + 1e-9).all()
            and (low <= result.upper + 1e-9).all()
            and (result.lower <= values).all()
            and (values <= result.upper).all()
        )
        print(
            f"| {name:34} | {float(d.mean()):9.5f} | {float(d[:n_unsafe].mean()):7.5f} | "
            f"{float(d[n_unsafe:].mean()):7.5f} |"
            f" {float(d.max()):6.4f} | {ok!s:>9} | {result.rollouts:9d} | {sum(result.frontier_widths):5d} |"
            f" {min(cpu[name]):6.3f} | {min(cpu[name]) / today_cpu:7.2f} | {min(cpu[name]) / base_cpu:7.2f} |"
            f" {min(wall[name]):6.3f} | {min(wall[name]) / today_wall:7.2f} |"
        )
    default = next(name for name, params in CANDIDATES.items() if params == EstimateParams())
    same = torch.allclose(public.probs, results[default].estimate, atol=1e-12)
    print()
    print(
        f"mg.score(estimate='best') (default EstimateParams) is the row '{default}': {same}; "
        f"its mean distance {float(distance(public.probs, low, high).mean()):.5f}, "
        f"the lower bound's {float(distance(public.lower, low, high).mean()):.5f}"
    )
    for name, values in (("lower", results["lower"].lower), ("best", public.probs)):
        d = distance(values, low, high)
        row, col = divmod(int(d.argmax()), d.shape[1])
        print(
            f"worst entry of {name}: prompt {row} ({'unsafe' if row < n_unsafe else 'benign'}), label "
            f"{space.labels[col]}: exact in [{float(low[row, col]):.3f}, {float(high[row, col]):.3f}], "
            f"{name} {float(values[row, col]):.3f}, "
            f"bounds [{float(public.lower[row, col]):.3f}, {float(public.upper[row, col]):.3f}]"
        )


if __name__ == "__main__":
    main()

"""The embedded tiny guard's training pipeline (``marginal_generate/models/tiny-guard``), one step per module.

    python -m training            # rebuild the shipped model (python -m training --help for the recipe's options)

| step | modules |
| --- | --- |
| data files, their one loader | ``data/`` (card: ``data/README.md``), ``tables``, ``pools`` |
| prompt generators over the template tables | ``generators/`` (``benign``, ``harmful``, ``privacy``) |
| Do-Not-Answer, mapped to Llama Guard 3 | ``donotanswer`` |
| one run's data: splits, held-out checks | ``run_data``, ``near_duplicates`` |
| an epoch's queries, their augmentation | ``queries``, ``augment``, ``conversations`` |
| the guard prompt, the tokenizer | ``prompt_format``, ``tokenizer`` |
| encoding, loss, model | ``encoding``, ``loss``, ``model`` |
| the loop (data-parallel on CPU cores) | ``loop``, ``data_parallel`` |
| held-out file, evaluation, saving | ``heldout``, ``evaluation``, ``saving``, ``card`` (+ ``model_card.md.jinja``) |
| the command line | ``cli`` (``python -m training``; ``scripts/train_tiny_guard.py`` calls it too) |

Every step is seeded: the same seed, data, process and thread counts give the same model byte for byte.
"""

import os

# on a shared 2-core machine, spinning OpenMP threads slow every process down many times over (set before torch loads)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

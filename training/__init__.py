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

Every step is seeded: the same seed, data, process and thread counts and the same CPU kernels give the same model
byte for byte. The kernels matter because the width of torch's vector kernels changes how sums are rounded: the
shipped model was trained with ATen's AVX2 kernels, and on a CPU with AVX-512 the same run drifts from its first
epoch (training loss 1.40997 against 1.41132). The entry points therefore ask for AVX2 kernels
(:func:`use_shipped_kernels`) unless ``ATEN_CPU_CAPABILITY`` is set.
"""

import os
import platform

# on a shared 2-core machine, spinning OpenMP threads slow every process down many times over (set before torch loads)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: The vector kernels the shipped model was trained with (``torch.backends.cpu.get_cpu_capability()``).
SHIPPED_CPU_CAPABILITY = "avx2"


def use_shipped_kernels() -> None:
    """Ask torch for the shipped model's vector kernels on an x86-64 CPU, unless ``ATEN_CPU_CAPABILITY`` is set; call
    it before torch is imported (torch reads the variable once, when it loads). Spawned processes inherit it."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("ATEN_CPU_CAPABILITY", SHIPPED_CPU_CAPABILITY)

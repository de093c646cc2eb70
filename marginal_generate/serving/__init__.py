"""Serving: OpenAI's ``POST /v1/moderations`` whose category scores are probabilities, and more.

``marginal-generate serve`` (:mod:`.command`) loads a guard model and serves the ASGI app (:mod:`.app`):
``/v1/moderations`` in OpenAI's request and response shape (:mod:`.schemas`, errors in OpenAI's body:
:mod:`.errors`) with OpenAI's 13 category keys mapped from the Llama Guard taxonomy (:mod:`.mapping`), the model's
own labels, their bounds and a decision (:mod:`.decisions`); ``/v1/classify`` for conversations; ``/health``;
``/metrics`` (:mod:`.metrics`). Requests that arrive together are scored in one model call (:mod:`.batcher`,
:mod:`.scorer`); a full queue's ``Retry-After`` is the queued prompts over the model's recent throughput
(:mod:`.throughput`). fastapi and uvicorn come with the ``serve`` extra: ``pip install "marginal-generate[serve]"``.

>>> from marginal_generate.serving import OPENAI_CATEGORIES
>>> len(OPENAI_CATEGORIES), OPENAI_CATEGORIES[1]
(13, 'harassment/threatening')
"""

from .app import Limits, Service, create_app
from .batcher import Batcher, QueueFull
from .errors import APIError
from .mapping import OPENAI_CATEGORIES, category_scores, gathered, mapping_table
from .metrics import Metrics
from .scorer import Scorer
from .throughput import Throughput

__all__ = [
    "APIError",
    "Batcher",
    "Limits",
    "Metrics",
    "OPENAI_CATEGORIES",
    "QueueFull",
    "Scorer",
    "Service",
    "Throughput",
    "category_scores",
    "create_app",
    "gathered",
    "mapping_table",
]

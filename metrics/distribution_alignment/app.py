"""The metric Space's page: evaluate's widget over this folder's module (as evaluate's own metric Spaces do)."""

import os

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "distribution_alignment.py"))
launch_gradio_widget(module)

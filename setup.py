"""One build step on top of setup.cfg: ship the repository's ``evaluate`` metric modules in the wheel.

``metrics/<name>/`` at the top of the repository stays the single source (it is also what gets
published to the Hub as a metric Space). Building the package copies each module's files, all but
its tests, into ``marginal_generate/_metrics/<name>/`` of the build, where
``marginal_generate.metric_path`` finds them in an installed package. An editable install reads
``metrics/`` in place, so nothing is copied then.
"""

from __future__ import annotations

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = "metrics"
PACKAGED = os.path.join("marginal_generate", "_metrics")


def metric_files(root: str = HERE) -> list[tuple[str, str]]:
    """``(source, destination)`` of every shipped file, both relative to ``root`` and to the build.

    A metric module is a folder ``metrics/<name>/`` holding ``<name>.py``; its files ship except
    tests (``test_*.py``) and anything hidden or cached.
    """
    out = []
    folder = os.path.join(root, METRICS)
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not os.path.isfile(os.path.join(folder, name, f"{name}.py")):
            continue
        for filename in sorted(os.listdir(os.path.join(folder, name))):
            source = os.path.join(METRICS, name, filename)
            if (
                filename.startswith((".", "test_", "__pycache__"))
                or not os.path.isfile(os.path.join(root, source))
                or not filename.endswith((".py", ".md", ".txt"))
            ):
                continue
            out.append((source, os.path.join(PACKAGED, name, filename)))
    return out


class BuildPyWithMetrics(build_py):
    """``build_py`` that also copies the metric modules into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, destination in metric_files():
            target = os.path.join(self.build_lib, destination)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(HERE, source), target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        extra = (
            []
            if getattr(self, "editable_mode", False)
            else [os.path.join(self.build_lib, d) for _, d in metric_files()]
        )
        return list(super().get_outputs(include_bytecode)) + extra


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildPyWithMetrics})

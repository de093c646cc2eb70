"""mg.metric_path / mg.load_metric, the build step that ships metrics/ in the wheel, and each folder's Space files."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_EVALUATE_OFFLINE"] = "1"

import filecmp  # noqa: E402
import runpy  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import evaluate  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

import marginal_generate as mg  # noqa: E402
from marginal_generate import metric_modules  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ["calibration_error", "distribution_alignment", "multilabel_classification"]


@pytest.mark.parametrize("name", NAMES)
def test_metric_path_is_the_repository_folder_in_a_checkout(name):
    path = mg.metric_path(name)
    assert path == os.path.join(ROOT, "metrics", name)
    assert os.path.isfile(os.path.join(path, f"{name}.py"))


def test_load_metric_computes():
    ece = mg.load_metric("calibration_error")
    out = ece.compute(predictions=[0.25, 0.25, 0.55, 0.75, 0.75], references=[0, 0, 1, 1, 1], n_bins=2)
    assert out["ece"] == pytest.approx(0.29) and out["bins"]["counts"] == [2, 3]
    multilabel = mg.load_metric("calibration_error", "multilabel")
    out = multilabel.compute(predictions=[[0.9, 0.2], [0.1, 0.4]], references=[[1, 0], [0, 1]], n_bins=2)
    assert out["ece_per_label"] == pytest.approx([0.1, 0.2])
    f1 = mg.load_metric("multilabel_classification").compute(
        predictions=[[0.9, 0.2], [0.6, 0.7], [0.1, 0.8]], references=[[1, 0], [0, 1], [0, 1]]
    )["f1_macro"]
    assert f1 == pytest.approx(0.8333, abs=1e-4)


def test_distribution_alignment_module_names_its_own_arguments():
    alignment = mg.load_metric("distribution_alignment", "multilabel")
    out = alignment.compute(
        predictions=[[0.0, 0.5], [1.0, 0.5]], references=[[1.0, 0.5], [0.0, 0.5]], labels=["S1", "S2"]
    )
    assert out["jsd"] == 0.5 and out["per_label"]["S1"]["jsd"] == 1.0
    with pytest.raises(ValueError, match=r"`predictions` must hold probabilities in \[0, 1\]; got 1.5 at index"):
        alignment.compute(predictions=[[1.5, 0.5]], references=[[1.0, 0.5]])
    with pytest.raises(ValueError, match=r"`probs` must hold probabilities in \[0, 1\]; got 1.5 at index"):
        mg.distribution_alignment([1.5], [1.0])


def test_unknown_name():
    with pytest.raises(
        ValueError,
        match=r"`name` must be one of \['calibration_error', 'distribution_alignment', "
        r"'multilabel_classification'\], got 'accuracy'",
    ):
        mg.metric_path("accuracy")
    with pytest.raises(ValueError, match=r"`name` must be one of .* got 'metrics/calibration_error'"):
        mg.load_metric("metrics/calibration_error")


def test_no_modules_found(monkeypatch, tmp_path):
    monkeypatch.setattr(metric_modules, "_ROOTS", (str(tmp_path / "a"), str(tmp_path / "b")))
    with pytest.raises(
        ValueError,
        match=r"no evaluate metric modules were found \(looked in .*\); this "
        r"installation of marginal-generate is incomplete",
    ):
        mg.metric_path("calibration_error")


def build_package(tmp_path):
    """Run the package's real build step (build_py, with setup.py's copy) into ``tmp_path``; nothing is written to the
    checkout."""
    (tmp_path / "egg").mkdir()
    subprocess.run(
        [
            sys.executable,
            "setup.py",
            "-q",
            "egg_info",
            "--egg-base",
            str(tmp_path / "egg"),
            "build_py",
            "--build-lib",
            str(tmp_path / "lib"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return tmp_path / "lib" / "marginal_generate"


def test_the_build_ships_the_metric_modules(tmp_path, monkeypatch):
    package = build_package(tmp_path)
    for name in NAMES:
        shipped = package / "_metrics" / name
        assert sorted(os.listdir(shipped)) == sorted(["README.md", "app.py", f"{name}.py", "requirements.txt"])
        for filename in os.listdir(shipped):  # copies of the single source, tests left out
            assert filecmp.cmp(shipped / filename, os.path.join(ROOT, "metrics", name, filename), shallow=False)
    assert (package / "metric_modules.py").is_file()
    # An installed package looks in its own _metrics first: the same call finds and loads the shipped copy.
    monkeypatch.setattr(metric_modules, "_ROOTS", (str(package / "_metrics"), os.path.join(ROOT, "metrics")))
    assert mg.metric_path("calibration_error") == str(package / "_metrics" / "calibration_error")
    out = mg.load_metric("calibration_error").compute(predictions=[0.25, 0.75], references=[0, 1], n_bins=2)
    assert out["ece"] == pytest.approx(0.25)


def test_the_source_distribution_carries_metrics():
    with open(os.path.join(ROOT, "MANIFEST.in")) as f:
        assert "recursive-include metrics *.py *.md *.txt" in f.read()


@pytest.mark.parametrize("name", NAMES)
def test_each_folder_is_a_metric_space(name, monkeypatch):
    folder = os.path.join(ROOT, "metrics", name)
    with open(os.path.join(folder, "README.md"), encoding="utf-8") as f:
        header = yaml.safe_load(f.read().split("---\n")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and header["pinned"] is False
    assert (
        header["sdk_version"] == "3.19.1"
    )  # evaluate's widget uses gradio 3's gr.inputs, as its own metric Spaces pin
    assert set(header["tags"]) >= {"evaluate", "metric"}
    assert {"title", "emoji", "colorFrom", "colorTo", "description"} <= set(header)
    with open(os.path.join(folder, "requirements.txt")) as f:
        requirements = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert requirements[0].startswith("marginal-generate") and any(r.startswith("evaluate") for r in requirements)
    launched = []
    monkeypatch.setattr(evaluate.utils, "launch_gradio_widget", launched.append)
    runpy.run_path(os.path.join(folder, "app.py"))
    (module,) = launched
    assert isinstance(module, evaluate.EvaluationModule) and module.name == name

"""What a new user trips on, through the real commands: each mistake is one ``marginal-generate: error:`` line
(exit status 2, no traceback) that names the input and says what to do, or one 400 from the server.

The mistakes: a port in use, a model folder without its tokenizer or its weights, a data file none of whose lines
can be read, a --validation-data file that is missing or unreadable, a Hub data set while offline, a params.yaml
that is not YAML, a Space calibrator file that is not one; a blank text sent to the server is scored, not refused."""

from __future__ import annotations

import json
import os
import shutil
import socket

import pytest

from marginal_generate.cli import main
from marginal_generate.default_model import DEFAULT_MODEL
from marginal_generate.evaluation.params import DEFAULT_PARAMS


def _error(capsys) -> str:
    """The one error line of a command that failed, checked to be the last line and free of a traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("marginal-generate: error: ")
    return last.removeprefix("marginal-generate: error: ")


def _model_folder(tmp_path, *names: str) -> str:
    """A copy of the embedded model's folder with only ``names`` in it."""
    folder = tmp_path / "model"
    folder.mkdir()
    for name in names:
        shutil.copy(os.path.join(DEFAULT_MODEL, name), folder / name)
    return str(folder)


@pytest.mark.parametrize("command, extra", [("serve", "uvicorn"), ("space", "gradio")])
def test_port_in_use_says_to_pick_another(command, extra, capsys, monkeypatch):
    pytest.importorskip(extra)
    for name in ("MODEL_ID", "CALIBRATOR", "POLICY", "LABELS", "GRAMMAR"):  # the Space's settings from the environment
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([command, "--port", str(port)]) == 2
    # the Space's was Gradio's "Cannot find empty port in range: ... passing `server_port` to `launch()`"
    assert _error(capsys) == (
        f"cannot serve on --host 127.0.0.1 --port {port}: [Errno 98] Address already in use; "
        "stop what listens there, or pass another --port (0: a free one)."
    )


def test_model_folder_without_a_tokenizer(tmp_path, capsys):
    folder = _model_folder(tmp_path, "config.json", "model.safetensors")
    out = tmp_path / "out"
    assert main(["evaluate", "--model", folder, "--output-dir", str(out), "--no-progress"]) == 2
    assert _error(capsys) == (
        f"model folder {folder!r} has no tokenizer (none of tokenizer.json, tokenizer_config.json, "
        f"tokenizer.model, vocab.json, vocab.txt); save it there: tokenizer.save_pretrained({folder!r})."
    )
    assert not (out / "run.json").exists()


def test_model_folder_without_weights(tmp_path, capsys):
    folder = _model_folder(tmp_path, "config.json", "tokenizer.json", "tokenizer_config.json")
    assert main(["evaluate", "--model", folder, "--output-dir", str(tmp_path / "out"), "--no-progress"]) == 2
    assert _error(capsys) == (
        f"model folder {folder!r} has no weights (no .safetensors or .bin file); "
        f"save them there: model.save_pretrained({folder!r})."
    )


def test_data_with_no_readable_record_names_the_first_reason(tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    record = {"conversation": [{"role": "user", "content": "hi"}], "categories": []}  # no is_safe
    data.write_text("".join(json.dumps(record) + "\n" for _ in range(12)))
    out = tmp_path / "out"
    assert main(["evaluate", "--dataset", str(data), "--output-dir", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    # nothing is written when no record can be read, so the count does not point at failures.jsonl
    assert "... and 2 more unreadable line(s)\n" in err and "failures.jsonl" not in err
    assert err.strip().splitlines()[-1] == (
        f"marginal-generate: error: no record of {data} (--dataset) could be read (12 bad line(s); the first: {data}, "
        "line 1: missing field 'is_safe'); fix the data or the options (see --help for the forms of --dataset)."
    )
    assert not (out / "failures.jsonl").exists()


def test_validation_data_mistakes_name_that_flag(tmp_path, capsys):
    out = str(tmp_path / "out")
    missing = tmp_path / "missing.jsonl"
    assert main(["evaluate", "--validation-data", str(missing), "--output-dir", out]) == 2
    assert _error(capsys) == (
        f"`--validation-data` {missing} does not exist; pass an existing file or folder, 'beavertails', "
        "or a Hub data set name with --columns."
    )
    # none of its lines readable: refused (it was read as an empty validation set, and calibration then said
    # "the validation split is empty ... pass --validation-data")
    data = tmp_path / "validation.jsonl"
    data.write_text(json.dumps({"conversation": [{"role": "user", "content": "hi"}], "is_safe": True}) + "\n")
    assert main(["evaluate", "--validation-data", str(data), "--calibrate", "ts", "--output-dir", out]) == 2
    assert _error(capsys) == (
        f"no record of {data} (--validation-data) could be read (1 bad line(s); the first: {data}, line 1: "
        "missing field 'categories'); fix the data or the options (see --help for the forms of --validation-data)."
    )


def test_params_that_are_not_yaml_say_where_to_start(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("strategies: [unclosed\n")
    assert main(["evaluate", "--params", str(params), "--output-dir", str(tmp_path / "out")]) == 2
    line = _error(capsys)
    assert line.startswith(f"params: {params} is not valid YAML (while parsing a flow sequence in ")
    assert line.endswith(f"); fix it there, or start from the shipped one: {DEFAULT_PARAMS}.")


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"a": 1}', "`data` must be a dict from `Calibrator.to_dict` with a 'calibrator' key"),
        ("not json", "`path` '{path}' is not a calibrator JSON file (Expecting value: line 1 column 1 (char 0))"),
    ],
)
def test_space_calibrator_that_is_not_one(tmp_path, capsys, monkeypatch, content, reason):
    pytest.importorskip("gradio")
    monkeypatch.delenv("CALIBRATOR", raising=False)
    path = tmp_path / "calibrator.json"
    path.write_text(content)
    assert main(["space", "--calibrator", str(path)]) == 2
    assert _error(capsys) == (
        f"calibrator {str(path)!r} (CALIBRATOR, --calibrator) cannot be read: {reason.format(path=path)}; "
        "give the JSON that Calibrator.save wrote."
    )


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    import marginal_generate as mg
    from marginal_generate.serving import Scorer, Service, create_app

    model, tokenizer = mg.load_default()
    with TestClient(create_app(Service.create(Scorer(model, tokenizer, "tiny-guard")))) as client:
        yield client


@pytest.mark.parametrize(
    "path, body, count",
    [
        ("/v1/moderations", {"input": ""}, 1),
        ("/v1/moderations", {"input": ["hi", " \n"]}, 2),
        ("/v1/moderations", {"input": [{"type": "text", "text": ""}]}, 1),
        ("/v1/classify", {"input": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}, 1),
    ],
)
def test_serve_scores_a_blank_text_like_any_other(client, path, body, count):
    # an application may send an empty message or an empty reply: OpenAI-shaped clients get an answer, not an error,
    # and the answer is the model's, as for any text
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.json()
    results = answer.json()["results"]
    assert len(results) == count
    for result in results:
        assert isinstance(result["flagged"], bool)
        assert all(0.0 <= p <= 1.0 for p in result["category_scores"].values())


def test_hub_data_set_while_offline_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    import datasets
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    argv = ["evaluate", "--dataset", "no-org/no-such-data", "--columns", "prompt=text,unsafe=label"]
    assert main([*argv, "--output-dir", str(tmp_path / "out")]) == 2
    line = _error(capsys)
    assert line.startswith("offline (HF_HUB_OFFLINE is set): cannot load `--dataset` no-org/no-such-data (")
    assert line.endswith(
        "); load it once where the Hub is reachable (datasets caches it for offline use), or pass a local file."
    )

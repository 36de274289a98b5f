"""The trained torchvision path, offline: a checkpoint where torch hub keeps torchvision's
weights is loaded by the library, the CLI and the app through the code a real download uses;
a damaged one gives one sentence and the real-photo fallback, never a traceback.

The checkpoint has torchvision's keys and shapes with seeded random values, so it does not
match the sha256 prefix in its file name. That is the point of the trust rule tested here:
a file in torch hub's folder is taken as it is, as torchvision itself does (torch hub only
puts a file there after its own hash check, and never re-hashes it), while a file in the
app's weights or cache folder is checked every time.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import needs_weights, open_page
from real_photo_support import use_real_photo_model
from torchvision.models import segmentation as tvseg

from deeplab_viz import weights as W
from deeplab_viz.cli import main
from deeplab_viz.models import ModelSpec, build_model, load_base
from deeplab_viz.models import registry as R
from deeplab_viz.models.torchvision_models import build_torchvision, default_weights
from deeplab_viz.paths import SAMPLES_DIR
from ui.aspp_view import TABS

NAME = "deeplabv3_mobilenet_v3_large"
CATEGORIES = tuple(tvseg.DeepLabV3_MobileNet_V3_Large_Weights.DEFAULT.meta["categories"])
IMAGE = SAMPLES_DIR / "chelsea.png"
BRANCHES = ["1×1", "rate 12", "rate 24", "rate 36", "image pooling", "bias"]

pytestmark = needs_weights


SHARES_TAB = TABS[2]  # the ASPP explorer's tab with the shares table


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """torchvision's state dict of the model, seeded random weights, saved once."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        tv = tvseg.deeplabv3_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=len(CATEGORIES), aux_loss=True
        )
    state = tv.state_dict()
    path = tmp_path_factory.mktemp("checkpoint") / "state.pth"
    torch.save(state, path)
    return path, state


def _clear_app_caches() -> None:
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def hub(checkpoint, tmp_path, monkeypatch, voc_base, tmp_path_factory):
    """``TORCH_HOME`` in tmp_path with the checkpoint where torch hub keeps it; offline."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(W.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setenv(W.ENV_OFFLINE, "1")
    filename = default_weights(NAME).url.rsplit("/", 1)[-1]
    dest = Path(torch.hub.get_dir()) / "checkpoints" / filename
    assert dest.is_relative_to(tmp_path)
    dest.parent.mkdir(parents=True)
    shutil.copyfile(checkpoint[0], dest)
    use_real_photo_model(monkeypatch, tmp_path_factory.getbasetemp() / "real_photo", voc_base)
    _clear_app_caches()  # the app's caches are per process: start from what is on disk
    yield dest
    _clear_app_caches()


def _same_weights(module, state: dict[str, torch.Tensor]) -> bool:
    return torch.equal(
        module.aspp.project[0].weight, state["classifier.0.project.0.weight"]
    ) and torch.equal(module.head[-1].weight, state["classifier.4.weight"])


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 100)
    else:  # a readable checkpoint of something else: wrong keys
        torch.save({"weight": torch.zeros(3)}, path)


# ------------------------------------------------------------------------- library


def test_the_library_loads_the_checkpoint_as_trained(hub, checkpoint):
    remote = R.torchvision_remote(NAME)
    assert not remote.matches(W.sha256_file(hub))  # random weights: not the real hash
    assert W.fetch(remote, include_torch_hub=True) == hub  # ... trusted where torch hub keeps it
    module, names = load_base(NAME)
    assert names == CATEGORIES and names[0] == "__background__"
    assert _same_weights(module, checkpoint[1])
    assert not _same_weights(build_torchvision(NAME, state_dict=None), checkpoint[1])
    for os_ in (8, 16, 32):
        spec = ModelSpec(name=NAME, output_stride=os_)
        model = build_model(spec, base=(module, names))
        assert model.aspp_rates == (None, *R.expected_rates(spec), None)
        assert "architecture only" not in model.spec.label
        assert _same_weights(model.module, checkpoint[1])  # rewired, same weights
    assert R.expected_rates(ModelSpec(name=NAME, output_stride=8)) == (24, 48, 72)


def test_only_torch_hubs_folder_is_trusted_without_a_hash_check(hub, monkeypatch, tmp_path):
    wdir = tmp_path / "weights"
    wdir.mkdir()
    shutil.copyfile(hub, wdir / hub.name)
    monkeypatch.setenv(W.ENV_WEIGHTS_DIR, str(wdir))
    with pytest.raises(W.WeightsUnavailable, match="sha256") as err:
        W.fetch(R.torchvision_remote(NAME), include_torch_hub=True)
    assert err.value.reason == "damaged"


@pytest.mark.parametrize("how", ["truncated", "garbage", "wrong keys"])
def test_a_damaged_checkpoint_falls_back_to_the_real_photo_model(hub, how):
    _damage(hub, how)
    model, fb = R.load_with_fallback(ModelSpec(name=NAME, output_stride=16))
    assert model.spec.name == R.REAL_PHOTO_MODEL and model.spec.output_stride == 16
    assert fb.reason == "damaged" and fb.requested == NAME
    assert fb.sentence.startswith(f"The weights file of {NAME} on this computer is damaged")
    assert str(hub) in fb.details


# ------------------------------------------------------------------------- CLI


def _records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_the_cli_loads_the_checkpoint_as_trained(hub, tmp_path, capsys):
    assert main(["models", "--json"]) == 0
    (row,) = [r for r in _records(capsys.readouterr().out) if r["name"] == NAME]
    assert row["trained_weights_available"] is True and row["weights"] == str(hub)

    out = tmp_path / "out"
    argv = ["--model", NAME, "--size", "257"]
    assert main(["aspp", str(IMAGE), "--out", str(out), "--output-stride", "8", *argv]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["model"] == f"{NAME} · OS 8" and report["output_stride"] == 8
    assert [b["kind"] for b in report["branches"]] == [
        "1x1",
        "atrous",
        "atrous",
        "atrous",
        "pooling",
    ]
    assert [b["rate"] for b in report["branches"]] == [None, 24, 48, 72, None]
    assert "runs instead" not in captured.err

    assert main(["segment", str(IMAGE), "--out", str(out), *argv]) == 0
    (rec,) = _records(capsys.readouterr().out)
    assert rec["model"] == f"{NAME} · OS 16"
    assert rec["classes"] and set(rec["classes"]) <= set(CATEGORIES)


def test_the_cli_falls_back_from_a_truncated_checkpoint_in_one_sentence(hub, tmp_path, capsys):
    _damage(hub, "truncated")
    argv = ["--out", str(tmp_path / "out"), "--model", NAME, "--size", "257"]
    assert main(["segment", str(IMAGE), *argv]) == 0
    captured = capsys.readouterr()
    (rec,) = _records(captured.out)
    assert rec["model"] == f"{R.REAL_PHOTO_MODEL} · OS 16"
    sentence, details = captured.err.strip().splitlines()[-2:]
    assert sentence.startswith(f"The weights file of {NAME} on this computer is damaged")
    assert f"so {R.REAL_PHOTO_MODEL} runs instead" in sentence and str(hub) not in sentence
    assert details.startswith("details: ") and "Traceback" not in captured.err

    assert main(["aspp", str(IMAGE), *argv]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == f"{R.REAL_PHOTO_MODEL} · OS 16"
    assert [b["rate"] for b in report["branches"]] == [None, 6, 12, 18, None]


# ------------------------------------------------------------------------- app


def _captions(at) -> str:
    return " ".join(c.value for c in (*at.sidebar.caption, *at.main.caption))


@pytest.mark.slow
def test_the_app_loads_the_checkpoint_as_trained(app, hub, checkpoint):
    import ui.cache

    app.query_params["sb_model"] = NAME
    app.query_params["sb_os"] = "16"
    app.query_params["sb_size"] = "257"
    app.query_params["aspp_tab"] = SHARES_TAB  # where the projection shares are drawn
    at = app.run()
    assert not at.exception
    assert not at.main.warning and not at.sidebar.warning
    captions = _captions(at)
    assert f"{NAME} · OS 16" in captions and "architecture only" not in captions
    assert "rate 12" in captions  # the home page names the ASPP branches as wired
    legend = [m.value for m in at.main.markdown if "border-radius" in m.value]
    found = {chip.split(">")[1].split(" · ")[0] for chip in " ".join(legend).split("<span")[1:]}
    assert found and found <= set(CATEGORIES)
    loaded = [m for s, m in ui.cache.LOADED.items() if s.name == NAME and s.pretrained]
    assert loaded and all(_same_weights(m.module, checkpoint[1]) for m in loaded)

    at.switch_page("pages/aspp_explorer.py").run()
    assert not at.exception
    frames = [d.value for d in at.main.dataframe if "signed share" in d.value.columns]
    assert list(frames[0]["branch"]) == BRANCHES
    info = " ".join(i.value for i in at.main.info)
    assert f"{NAME} · OS 16" in info and "architecture only" not in info

    at.sidebar.segmented_control(key="sb_os").set_value(8).run()
    assert not at.exception
    frames = [d.value for d in at.main.dataframe if "signed share" in d.value.columns]
    assert list(frames[0]["branch"]) == [
        "1×1",
        "rate 24",
        "rate 48",
        "rate 72",
        "image pooling",
        "bias",
    ]


@pytest.mark.slow
def test_the_app_falls_back_from_a_corrupt_checkpoint_in_one_sentence(app, hub):
    _damage(hub, "garbage")
    at = open_page(
        app,
        "pages/aspp_explorer.py",
        sb_model=NAME,
        sb_os="16",
        sb_size="257",
        aspp_tab=SHARES_TAB,
    )
    (warning,) = [w.value for w in at.main.warning]
    assert warning.startswith(f"The weights file of {NAME} on this computer is damaged")
    assert f"so {R.REAL_PHOTO_MODEL} runs instead" in warning and str(hub) not in warning
    assert f"`python -m deeplab_viz fetch {NAME}`" in warning
    frames = [d.value for d in at.main.dataframe if "signed share" in d.value.columns]
    assert list(frames[0]["branch"]) == [
        "1×1",
        "rate 6",
        "rate 12",
        "rate 18",
        "image pooling",
        "bias",
    ]
    assert f"{R.REAL_PHOTO_MODEL} · OS 16" in _captions(at)

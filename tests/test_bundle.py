"""Bundles: round trip of every non-instance model, pickle refusal, json/weights mismatch, atomic writes."""

import json
import os
import pickle
import struct

import pytest
import torch
from torch import nn

from core.errors import InputError
from core.models import (BundleError, ModelEnsemble, build_model, list_models, load_bundle, model_kind,
                         save_bundle)
from core.models import bundle as bundle_mod
from core.models import registry

torch.set_num_threads(1)

NON_INSTANCE = [n for n in list_models() if model_kind(n) != "instance"]


def _meta(name, **extra):
    meta = {"task": "test", "input_size": 64, "normalization": "unit", "recipe": {"lr": 1e-3},
            "data_fingerprint": "abc", "metrics": {"auc": 0.5}}
    if model_kind(name) in ("classification", "multitask"):
        meta["class_names"] = ["a", "b", "c"]
    meta.update(extra)
    return meta


def _assert_outputs_close(a, b):
    """Outputs of identical weights agree to float32 rounding. Bit-equality is not promised: the same kernel can
    pick another reduction order between two calls on some CPUs (seen: 1e-16 on AMD EPYC, mobilenet_v3_small)."""
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    else:
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def _small(name):
    model = build_model(name, num_classes=1 if model_kind(name) == "segmentation" else 3, in_channels=1)
    return model.eval()


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("name", NON_INSTANCE)
def test_round_trip_gives_identical_outputs(tmp_path, name, in_channels):
    n_out = 1 if model_kind(name) == "segmentation" else 3
    model = build_model(name, num_classes=n_out, in_channels=in_channels).eval()
    with torch.no_grad():                      # non-trivial BatchNorm statistics must travel too
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.9, 1.1)
    save_bundle(tmp_path / "b", model, _meta(name))
    loaded, meta = load_bundle(tmp_path / "b")
    assert not loaded.training
    x = torch.randn(2, in_channels, 64, 64, generator=torch.Generator().manual_seed(0))
    original, restored = model.state_dict(), loaded.state_dict()
    assert set(original) == set(restored)
    assert all(torch.equal(original[k], restored[k]) for k in original)     # the weights themselves: bit-exact
    with torch.inference_mode():
        _assert_outputs_close(model(x), loaded(x))
    assert meta.architecture == name and meta.kind == model_kind(name)
    assert meta.in_channels == in_channels and meta.num_classes == n_out
    assert meta.pretrained is False and meta.input_size == 64
    assert meta.normalization.to_json() == {"mean": [0.0] * in_channels, "std": [1.0] * in_channels}
    written = json.loads((tmp_path / "b" / "model.json").read_text())
    for key in ("created", "versions", "recipe", "data_fingerprint", "metrics", "threshold"):
        assert key in written
    assert sorted(os.listdir(tmp_path)) == ["b"]          # no temp directories left behind
    assert sorted(os.listdir(tmp_path / "b")) == ["model.json", "model.safetensors"]


def test_arch_kwargs_and_ensembles_round_trip(tmp_path):
    members = [build_model("unet_cls", num_classes=2, width=4, depth=2) for _ in range(3)]
    ens = ModelEnsemble(members).eval()
    save_bundle(tmp_path / "e", ens, {"input_size": 32, "class_names": ["term", "preterm"]})
    loaded, meta = load_bundle(tmp_path / "e")
    assert meta.ensemble_size == 3 and meta.arch_kwargs == {"width": 4, "depth": 2}
    x = torch.rand(2, 1, 32, 32)
    with torch.inference_mode():
        out, ref = loaded(x), ens(x)
        _assert_outputs_close(out, ref)
        mean_p = torch.stack([torch.softmax(m(x)["class_logits"], 1) for m in members]).mean(0)
    assert torch.allclose(torch.softmax(out["class_logits"], 1), mean_p, atol=1e-5)


def test_pickle_in_place_of_safetensors_is_refused_and_never_runs(tmp_path):
    save_bundle(tmp_path / "b", _small("smallcnn"), _meta("smallcnn"))
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    weights = tmp_path / "b" / "model.safetensors"
    weights.write_bytes(pickle.dumps({"conv": Payload()}, protocol=2))
    with pytest.raises(InputError, match="model.safetensors: not a safetensors file.*pickle"):
        load_bundle(tmp_path / "b")
    torch.save({"x": Payload()}, weights)               # the torch.save zip flavour
    with pytest.raises(BundleError, match="zip archive"):
        load_bundle(tmp_path / "b")
    assert not marker.exists()


@pytest.mark.parametrize("payload, reason", [
    (b"", "bytes long"),
    (struct.pack("<Q", 10 ** 9) + b"{}", "header length"),
    (struct.pack("<Q", 4) + b"\xff\xfe{}", "not JSON"),
    (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    (struct.pack("<Q", 42) + b'{"w": {"dtype": "F32", "shape": [2]}}     ', "malformed"),
])
def test_malformed_headers_are_refused(tmp_path, payload, reason):
    save_bundle(tmp_path / "b", _small("smallcnn"), _meta("smallcnn"))
    (tmp_path / "b" / "model.safetensors").write_bytes(payload)
    with pytest.raises(BundleError, match=reason):
        load_bundle(tmp_path / "b")


def test_json_that_disagrees_with_weights_is_refused(tmp_path):
    save_bundle(tmp_path / "b", _small("resnet18"), _meta("resnet18"))
    meta_path = tmp_path / "b" / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["num_classes"] = 5
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"fc.weight: json says \[5, 512\], weights have \[3, 512\]"):
        load_bundle(tmp_path / "b")
    meta["num_classes"], meta["architecture"] = 3, "resnet34"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"missing layer1.2.conv1.weight.*\(\+\d+ more\)"):
        load_bundle(tmp_path / "b")
    meta["architecture"] = "no_such_net"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="unknown architecture"):
        load_bundle(tmp_path / "b")


def test_missing_files_and_bad_json_name_the_file(tmp_path):
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")
    save_bundle(tmp_path / "b", _small("smallcnn"), _meta("smallcnn"))
    (tmp_path / "b" / "model.json").write_text("{not json")
    with pytest.raises(BundleError, match="model.json: not valid JSON"):
        load_bundle(tmp_path / "b")
    (tmp_path / "b" / "model.json").unlink()
    with pytest.raises(BundleError, match="model.json: missing"):
        load_bundle(tmp_path / "b")


def test_overwrite_is_atomic_and_a_crash_leaves_the_old_bundle(tmp_path, monkeypatch):
    first = _small("smallcnn")
    save_bundle(tmp_path / "b", first, _meta("smallcnn", metrics={"auc": 0.1}))
    second = _small("smallcnn")
    save_bundle(tmp_path / "b", second, _meta("smallcnn", metrics={"auc": 0.2}))
    model, meta = load_bundle(tmp_path / "b")
    assert meta.metrics == {"auc": 0.2}
    assert torch.equal(model.state_dict()["classifier.2.weight"], second.state_dict()["classifier.2.weight"])

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(bundle_mod.json, "dump", crash)
    with pytest.raises(OSError):
        save_bundle(tmp_path / "b", _small("smallcnn"), _meta("smallcnn", metrics={"auc": 0.3}))
    assert load_bundle(tmp_path / "b")[1].metrics == {"auc": 0.2}
    assert sorted(os.listdir(tmp_path)) == ["b"]


def test_refuses_to_overwrite_a_directory_that_is_not_a_bundle(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a model bundle"):
        save_bundle(tmp_path / "run", _small("smallcnn"), _meta("smallcnn"))
    assert (tmp_path / "run" / "notes.txt").read_text() == "keep me"


def test_meta_validation_catches_missing_class_names(tmp_path):
    with pytest.raises(ValueError, match="class_names"):
        save_bundle(tmp_path / "b", _small("smallcnn"), {"input_size": 64})
    with pytest.raises(ValueError, match="input_size"):
        save_bundle(tmp_path / "b", _small("smallcnn"), {"class_names": ["a", "b", "c"]})


class _Tied(nn.Module):
    def __init__(self, *, num_classes, in_channels=1):
        super().__init__()
        self.embed = nn.Linear(4, 4, bias=False)
        self.out = nn.Linear(4, 4, bias=False)
        self.out.weight = self.embed.weight                     # tied: one storage under two names
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.head(self.out(self.embed(x.flatten(1)[:, :4])))


def test_shared_tensors_are_stored_once_and_restored(tmp_path, monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "tied_test",
                        registry.ModelSpec(name="tied_test", builder=_Tied, kind="classification"))
    model = build_model("tied_test", num_classes=2)
    save_bundle(tmp_path / "t", model, {"input_size": 2, "class_names": ["a", "b"]})
    from safetensors import safe_open

    with safe_open(str(tmp_path / "t" / "model.safetensors"), "pt") as fh:
        assert sorted(fh.keys()) == ["embed.weight", "head.bias", "head.weight"]
    loaded, meta = load_bundle(tmp_path / "t")
    assert meta.aliases == {"out.weight": "embed.weight"}
    assert loaded.out.weight is loaded.embed.weight
    x = torch.rand(3, 1, 2, 2)
    torch.testing.assert_close(loaded(x), model(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("first_bytes", [b"\x80", b"PK"])
def test_genuine_header_lengths_that_look_like_pickle_or_zip_are_accepted(tmp_path, first_bytes):
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"

    def header_length(pad):
        save_file({"w": torch.zeros(2)}, str(path), metadata={"pad": "x" * pad})
        return struct.unpack("<Q", path.read_bytes()[:8])[0]

    target = 0x80 if first_bytes == b"\x80" else 0x4B50        # header lengths whose first bytes look bad
    base = header_length(0)
    for pad in range(max(0, target - base - 16), target - base + 16):
        if header_length(pad) == target:
            break
    assert path.read_bytes()[:len(first_bytes)] == first_bytes
    header = bundle_mod.check_safetensors_file(path)
    assert header["w"]["shape"] == [2]

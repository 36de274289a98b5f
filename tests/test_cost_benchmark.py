"""The GPU and cost page's plan of a benchmark run: which configurations, which models."""

from __future__ import annotations

from deeplab_viz.cost.benchmark import bench_plan, bench_spec, cudnn_label, model_title


def test_bench_spec_trains_only_the_offline_model():
    spec = bench_spec("voc-mobilenetv2", 16, "float32", "cpu")
    assert (spec.name, spec.output_stride, spec.dtype, spec.device) == (
        "voc-mobilenetv2",
        16,
        "float32",
        "cpu",
    )
    assert spec.pretrained
    tv = bench_spec("deeplabv3_resnet50", 8, "bfloat16", "cpu")
    assert not tv.pretrained and tv.dtype == "bfloat16" and tv.output_stride == 8


def test_model_title_says_when_weights_are_random():
    assert model_title("voc-mobilenetv2") == "voc-mobilenetv2"
    assert model_title("deeplabv3_resnet50") == "deeplabv3_resnet50 · random weights"


def test_bench_plan_runs_by_model_then_precision_then_stride_and_size():
    plan = bench_plan(["a", "b"], ["float32", "float16"], [32, 8], [513, 257])
    assert len(plan) == 2 * 2 * 2 * 2
    assert plan[:4] == [
        ("a", 8, "float32", 257),
        ("a", 8, "float32", 513),
        ("a", 32, "float32", 257),
        ("a", 32, "float32", 513),
    ]
    assert plan[4] == ("a", 8, "float16", 257) and plan[8][0] == "b"
    assert bench_plan([], ["float32"], [16], [257]) == []
    assert bench_plan(["a"], ["float32"], [], [257]) == []


def test_cudnn_label_is_short():
    assert cudnn_label("deeplabv3_resnet50", 16, "float32", 513) == (
        "resnet50 · OS 16 · float32 · 513 px"
    )
    assert cudnn_label("voc-mobilenetv2", 8, "float16", 257) == (
        "voc-mobilenetv2 · OS 8 · float16 · 257 px"
    )

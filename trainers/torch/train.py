#!/usr/bin/env python3
"""Kaizen's PyTorch reference trainer: a binary classifier (MLP) that implements the external-trainer
protocol (trainers/external.ts, trainers/torch/README.md):

    train.py --train <arrow> --valid <arrow> --out <dir> --params <json>

Progress goes to stdout as one JSON object per line (one per epoch); logs go to stderr. On success
<out>/model.onnx and <out>/metrics.json exist. The ONNX graph takes the raw feature columns: one
input per feature named like its column, shape [N, 1], float32 for numeric columns (NaN = missing) and
string for categorical ones ("" = missing) — the per-column layout the scorer reads beside the
built-in exporter's numeric block (trainers/builtin/onnx-proto.ts NUMERIC_BLOCK); outputs `logit` and
`probability`, float [N, 1]. The preprocessing fitted on the training split (standardization, mean
imputation with a missing indicator, one-hot encoding) is inside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import torch
from torch import nn

DEFAULTS = {
    "hidden": [64, 32],
    "batch_size": 65536,
    "epochs": 10,
    "lr": 1e-3,
    "seed": 42,
    "device": "auto",
    "max_categories": 1000,
}
OUTPUTS = ("logit", "probability")


def log(message: str) -> None:
    print(f"[torch-trainer] {message}", file=sys.stderr, flush=True)


def report(progress: dict) -> None:
    print(json.dumps(progress), flush=True)


def read_arrow(path: str) -> pa.Table:
    """An Arrow IPC file (what Kaizen writes); an IPC stream is accepted too."""
    with pa.memory_map(path, "r") as source:
        try:
            return ipc.open_file(source).read_all()
        except pa.ArrowInvalid:
            source.seek(0)
            return ipc.open_stream(source).read_all()


def is_categorical(arrow_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(arrow_type):
        return is_categorical(arrow_type.value_type)
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def numeric_values(column: pa.ChunkedArray) -> np.ndarray:
    """float64 with NaN for null (bool → 0/1, timestamps → their integer value)."""
    arrow_type = column.type
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type) or pa.types.is_duration(arrow_type):
        column = pc.cast(column, pa.int64())
    elif not (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_boolean(arrow_type)):
        raise ValueError(f"unsupported column type {arrow_type}")
    column = pc.fill_null(pc.cast(column, pa.float64()), math.nan)
    return column.to_numpy(zero_copy_only=False).astype(np.float64)  # a writable copy, for torch


def string_values(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return pc.cast(column, pa.string())


@dataclass
class NumericInput:
    name: str
    mean: float
    std: float
    fill: float
    missing_indicator: bool
    kind: str = "numeric"

    @property
    def width(self) -> int:
        return 2 if self.missing_indicator else 1


@dataclass
class CategoricalInput:
    name: str
    categories: list[str] = field(default_factory=list)
    kind: str = "categorical"

    @property
    def width(self) -> int:
        return len(self.categories)


Input = NumericInput | CategoricalInput


def fit_inputs(table: pa.Table, features: list[str], max_categories: int) -> list[Input]:
    """Preprocessing fitted on the training split only (no leakage), as trainers/builtin/fit-inputs.ts."""
    inputs: list[Input] = []
    for name in features:
        if name in OUTPUTS:
            raise ValueError(f'feature "{name}" clashes with a model output name')
        column = table.column(name)
        if is_categorical(column.type):
            values = string_values(column)
            distinct = pc.unique(values.drop_null()).to_pylist()
            categories = sorted(v for v in distinct if v != "")  # "" is what the graph gets for null
            if len(categories) > max_categories:
                raise ValueError(
                    f'feature column "{name}" has {len(categories)} distinct values, more than '
                    f"max_categories ({max_categories})"
                )
            inputs.append(CategoricalInput(name, categories))
        else:
            x = numeric_values(column)
            if np.isinf(x).any():
                raise ValueError(f'feature column "{name}" has infinite values')
            present = x[~np.isnan(x)]
            mean = float(present.mean()) if present.size else 0.0
            std = float(present.std()) if present.size else 0.0
            inputs.append(NumericInput(name, mean, std if std > 0 else 1.0, mean, bool(present.size < len(x))))
    return inputs


def design_matrix(table: pa.Table, inputs: list[Input], device: torch.device) -> torch.Tensor:
    """The model's input matrix, float32 [N, width], built on the device."""
    parts: list[torch.Tensor] = []
    for spec in inputs:
        column = table.column(spec.name)
        if isinstance(spec, NumericInput):
            x = torch.from_numpy(numeric_values(column)).to(device)
            missing = torch.isnan(x)
            x = (torch.where(missing, torch.full_like(x, spec.fill), x) - spec.mean) / spec.std
            parts.append(x.float().unsqueeze(1))
            if spec.missing_indicator:
                parts.append(missing.float().unsqueeze(1))
        elif spec.categories:
            index = pc.index_in(string_values(column), value_set=pa.array(spec.categories, pa.string()))
            codes = torch.from_numpy(pc.fill_null(index, -1).to_numpy(zero_copy_only=False).astype(np.int64)).to(device)
            positions = torch.arange(len(spec.categories), device=device)
            parts.append((codes.unsqueeze(1) == positions).float())
    if not parts:
        raise ValueError("the model has no inputs (no features, or only categorical ones without values)")
    return torch.cat(parts, dim=1).contiguous()


def labels(table: pa.Table, label: str) -> np.ndarray:
    y = numeric_values(table.column(label))
    if np.isnan(y).any():
        raise ValueError(f'label column "{label}" has nulls')
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f'label column "{label}" must be binary (0/1 or bool)')
    return y.astype(np.float32)


def build_network(width: int, hidden: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


@torch.no_grad()
def predict_logits(network: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    network.eval()
    return torch.cat([network(x[i : i + batch_size]).squeeze(1) for i in range(0, x.shape[0], batch_size)])


def auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """Rank-based (Mann–Whitney) ROC AUC with tied scores sharing their average rank."""
    positives = int((y == 1).sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return None
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0  # 1-based ranks
    rank_sum = average_rank[inverse][y == 1].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# ---------------------------------------------------------------------------------------------------
# ONNX: the computation of trainers/builtin/onnx-export.ts (with one input per column rather than its
# numeric block), written node by node with onnx.helper. The network is Linear/ReLU only, so its Gemm nodes take the trained weights as they are (Linear's weight
# is outputs × inputs: Gemm with transB=1); this keeps the export independent of torch.onnx's
# version-specific exporters and puts the preprocessing in the very same graph.
# ---------------------------------------------------------------------------------------------------


def export_onnx(inputs: list[Input], network: nn.Sequential, path: str) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    used = {spec.name for spec in inputs} | set(OUTPUTS)
    nodes: list = []
    initializers: list = []

    def fresh(base: str) -> str:
        name, i = base, 1
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        return name

    def node(op: str, node_inputs: list[str], output: str | None = None, domain: str = "", **attrs) -> str:
        out = output or fresh(op.lower())
        nodes.append(helper.make_node(op, node_inputs, [out], name=fresh(f"node_{out}"), domain=domain, **attrs))
        return out

    def const(base: str, value: np.ndarray) -> str:
        name = fresh(base)
        initializers.append(numpy_helper.from_array(value, name))
        return name

    parts: list[str] = []
    for spec in inputs:
        if isinstance(spec, NumericInput):
            missing = node("IsNaN", [spec.name])
            filled = node("Where", [missing, const(f"{spec.name}_fill", np.array(spec.fill, np.float32)), spec.name])
            centered = node("Sub", [filled, const(f"{spec.name}_mean", np.array(spec.mean, np.float32))])
            parts.append(node("Div", [centered, const(f"{spec.name}_std", np.array(spec.std, np.float32))]))
            if spec.missing_indicator:
                parts.append(node("Cast", [missing], to=TensorProto.FLOAT))
        elif spec.categories:
            # "" (missing) and unseen values map to -1, which matches no one-hot position.
            index = node(
                "LabelEncoder",
                [spec.name],
                domain="ai.onnx.ml",
                keys_strings=spec.categories,
                values_int64s=list(range(len(spec.categories))),
                default_int64=-1,
            )
            positions = const(f"{spec.name}_positions", np.arange(len(spec.categories), dtype=np.int64))
            hot = node("Equal", [index, positions])  # [N, 1] == [k] → [N, k]
            parts.append(node("Cast", [hot], to=TensorProto.FLOAT))

    x = node("Concat", parts, axis=1)
    linears = [m for m in network if isinstance(m, nn.Linear)]
    for l, linear in enumerate(linears):
        last = l == len(linears) - 1
        w = const(f"w{l}", linear.weight.detach().cpu().numpy().astype(np.float32))
        b = const(f"b{l}", linear.bias.detach().cpu().numpy().astype(np.float32))
        x = node("Gemm", [x, w, b], "logit" if last else None, transB=1)
        if not last:
            x = node("Relu", [x])
    node("Sigmoid", [x], "probability")

    def value_info(name: str, elem_type: int):
        return helper.make_tensor_value_info(name, elem_type, ["N", 1])

    graph = helper.make_graph(
        nodes,
        "torch-mlp",
        [value_info(s.name, TensorProto.FLOAT if isinstance(s, NumericInput) else TensorProto.STRING) for s in inputs],
        [value_info(name, TensorProto.FLOAT) for name in OUTPUTS],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="kaizen-torch",
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    tmp = f"{path}.tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f'device "{requested}" requested but CUDA is not available')
    return device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--valid", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--params", required=True, help="JSON object")
    args = parser.parse_args(argv)
    params = {**DEFAULTS, **json.loads(args.params)}
    label = params.get("label")
    features = params.get("features")
    if not isinstance(label, str) or not isinstance(features, list) or not features:
        raise ValueError('params need "label" (a column name) and "features" (a non-empty list of column names)')
    batch_size, epochs = int(params["batch_size"]), int(params["epochs"])

    torch.manual_seed(int(params["seed"]))
    np.random.seed(int(params["seed"]))
    device = pick_device(str(params["device"]))
    log(f"device {device}{f' ({torch.cuda.get_device_name(device)})' if device.type == 'cuda' else ''}")

    train_table, valid_table = read_arrow(args.train), read_arrow(args.valid)
    for table, which in ((train_table, "training"), (valid_table, "validation")):
        missing = [c for c in [label, *features] if c not in table.column_names]
        if missing:
            raise ValueError(f"{which} data lacks column(s) {', '.join(missing)}")
    inputs = fit_inputs(train_table, features, int(params["max_categories"]))
    # Everything stays resident on the device: one matrix per split, batches are slices of it.
    x_train = design_matrix(train_table, inputs, device)
    x_valid = design_matrix(valid_table, inputs, device)
    y_train_np, y_valid_np = labels(train_table, label), labels(valid_table, label)
    y_train = torch.from_numpy(y_train_np).to(device)
    y_valid = torch.from_numpy(y_valid_np).to(device)
    n = x_train.shape[0]
    if n == 0:
        raise ValueError("the training split is empty")
    log(f"{n} training rows, {x_valid.shape[0]} validation rows, {x_train.shape[1]} model inputs")

    network = build_network(x_train.shape[1], [int(h) for h in params["hidden"]]).to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=float(params["lr"]))
    loss_fn = nn.BCEWithLogitsLoss()
    generator = torch.Generator(device=device).manual_seed(int(params["seed"]))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    trained_samples, training_seconds = 0, 0.0
    valid_loss = None  # JSON has no NaN
    for epoch in range(1, epochs + 1):
        sync()
        started = time.perf_counter()
        network.train()
        order = torch.randperm(n, device=device, generator=generator)
        total = torch.zeros((), device=device)
        for i in range(0, n, batch_size):
            batch = order[i : i + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(network(x_train[batch]).squeeze(1), y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.detach() * batch.numel()
        sync()
        seconds = time.perf_counter() - started
        trained_samples += n
        training_seconds += seconds
        if x_valid.shape[0] > 0:
            valid_loss = float(loss_fn(predict_logits(network, x_valid, batch_size), y_valid))
        report(
            {
                "epoch": epoch,
                "epochs": epochs,
                "train_loss": float(total) / n,
                "valid_loss": valid_loss,
                "samples_per_s": n / seconds if seconds > 0 else None,
            }
        )

    os.makedirs(args.out, exist_ok=True)
    export_onnx(inputs, network.cpu(), os.path.join(args.out, "model.onnx"))
    network.to(device)
    p_valid = torch.sigmoid(predict_logits(network, x_valid, batch_size)).cpu().numpy().astype(np.float64)
    metrics = {
        "auc": auc(y_valid_np, p_valid),
        "log_loss": log_loss(y_valid_np, p_valid) if len(p_valid) else None,
        "accuracy": float(((p_valid >= 0.5) == (y_valid_np == 1)).mean()) if len(p_valid) else None,
        "samples_per_s": trained_samples / training_seconds if training_seconds > 0 else None,
        "device": str(device),
        "train_rows": int(n),
        "valid_rows": int(x_valid.shape[0]),
        "epochs": epochs,
        "trainer": "torch",
        "torch_version": torch.__version__,
    }
    with open(os.path.join(args.out, "metrics.json.tmp"), "w") as f:
        json.dump(metrics, f, indent=2)
    os.replace(os.path.join(args.out, "metrics.json.tmp"), os.path.join(args.out, "metrics.json"))
    log(f"done: validation auc {metrics['auc']}, log loss {metrics['log_loss']}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # noqa: BLE001: the protocol reports failures as a non-zero exit + stderr
        log(f"error: {type(error).__name__}: {error}")
        raise

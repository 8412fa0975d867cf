"""Time one U-Net training step per memory order and precision: what Recipe.channels_last and precision buy.

Why a script: the segmentation recipe's speed settings (channels-last, bfloat16 autocast where the CPU has it)
were chosen by this measurement; it reports milliseconds per image and the ratio to the plain fp32,
contiguous step in the same run, so a shared machine's load cancels out of the ratio.

    python scripts/bench_train_step.py --size 160x240 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.models.transforms import as_hw, parse_input_size  # noqa: E402
from core.models.unet import unet  # noqa: E402
from core.timing import median_seconds  # noqa: E402
from core.training.trainer import cpu_bf16_native  # noqa: E402


def step_ms(*, size_hw, batch: int, width: int, channels_last: bool, bf16: bool, repeats: int) -> float:
    """Median milliseconds per image of forward + backward + Adam step (the first, warm-up step left out)."""
    torch.manual_seed(0)
    net = unet(num_classes=1, in_channels=1, width=width)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.randn(batch, 1, *size_hw)
    y = (torch.rand(batch, 1, *size_hw) > 0.5).float()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return 1000.0 * median_seconds(step, repeats=repeats, warmup=1) / batch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="160x240", help="input size: one side or HEIGHTxWIDTH")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--width", type=int, default=16, help="U-Net base width (the CPU default)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    size_hw = as_hw(parse_input_size(args.size))
    precisions = [False, True] if cpu_bf16_native() else [False]
    rows = []
    for bf16 in precisions:
        for channels_last in (False, True):
            ms = step_ms(size_hw=size_hw, batch=args.batch, width=args.width, channels_last=channels_last,
                         bf16=bf16, repeats=args.repeats)
            rows.append({"precision": "bf16" if bf16 else "fp32", "channels_last": channels_last,
                         "ms_per_image": round(ms, 2)})
    base = rows[0]["ms_per_image"]
    for row in rows:
        row["speedup_vs_fp32_contiguous"] = round(base / row["ms_per_image"], 2)
    if args.json:
        print(json.dumps({"size": list(size_hw), "batch": args.batch, "width": args.width, "rows": rows}))
    else:
        for row in rows:
            print(f"{row['precision']:5s} channels_last={row['channels_last']!s:5s} {row['ms_per_image']:7.2f} ms/image"
                  f"  x{row['speedup_vs_fp32_contiguous']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

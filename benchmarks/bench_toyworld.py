"""Throughput of the toy world: photos, stage-2 samples and backgrounds per second, and oracle readings.

Run: ``.venv/bin/python benchmarks/bench_toyworld.py [--count 2000] [--resolutions 64 128]``.
Prints one line per measurement; single process, so multiply by the data-loader workers used.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch

from blip_diffusion.toyworld.datasets import BackgroundPool, CaptionDataset, SubjectDataset
from blip_diffusion.toyworld.oracle import load_oracle, read

ORACLE = Path(__file__).resolve().parents[1] / "assets" / "toyworld" / "oracle.safetensors"


def per_second(make: Callable[[int], object], count: int) -> float:
    make(0)  # warm-up
    started = time.perf_counter()
    for index in range(1, count + 1):
        make(index)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="items per measurement")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128])
    args = parser.parse_args()
    torch.set_num_threads(2)
    for resolution in args.resolutions:
        for name, dataset in (
            ("caption photos", CaptionDataset(10**9, 0, resolution)),
            ("stage-2 samples", SubjectDataset(10**9, 0, resolution, pool_size=1024)),
            ("backgrounds", BackgroundPool(10**9, 0, resolution)),
        ):
            print(f"{resolution:4d} px  {name:16s} {per_second(dataset.__getitem__, args.count):8.0f} /s")
    if ORACLE.is_file():
        oracle = load_oracle(ORACLE)
        pictures = [CaptionDataset(args.count, 1, 64)[i].image for i in range(args.count)]
        read(oracle, pictures[:256])
        started = time.perf_counter()
        read(oracle, pictures)
        rate = args.count / (time.perf_counter() - started)
        print(
            f"  64 px  oracle readings   {rate:8.0f} /s (batches of 256, {torch.get_num_threads()} threads)"
        )


if __name__ == "__main__":
    main()

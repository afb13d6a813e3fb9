"""Subject fine-tuning as a user runs it: wall time of ``blip-diffusion finetune``, set-up included.

    python benchmarks/bench_finetune.py            # CPU: the bundled toy model and its demo subject
    python benchmarks/bench_finetune.py --sd15     # GPU: random weights at the SD1.5 / BLIP-2 size

Each method runs in a fresh process (start-up, model loading, subject encoding, the optimizer steps,
export), the way ``blip-diffusion finetune`` runs: BLIP-Diffusion with a LoRA (the default), with the
full UNet, and the DreamBooth-style baseline (LoRA, no subject embedding), at the same step count.
``--sd15`` first writes the random real-size model to a temporary folder (not timed) and trains
with float16 mixed precision. Prints a table with each run's phases (from the command's ``-v`` log:
loading, the task's set-up, the optimizer steps, export, and the rest: start-up and imports; and
the set-up's parts: models to the device, the photos through the VAE, the subject encoding);
--json writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_generate import STAND_IN_VOCAB, TOY_MODEL, build_sd15, device_name

TOY_SUBJECT = (sorted((ROOT / "assets" / "toyworld" / "demo-subject").glob("*.png")), "ball")
PHOTO_SUBJECT = (sorted((ROOT / "assets" / "dreambench" / "dog").glob("*.jpg"))[:3], "dog")
METHODS = {
    "BLIP-Diffusion, LoRA r4": [],
    "BLIP-Diffusion, full UNet": ["--full-unet"],
    "DreamBooth-style, LoRA r4": ["--method", "dreambooth"],
}


PHASES = {"load": re.compile(r"INFO blip_diffusion\.training\.finetune: loaded .* in ([\d.]+) s"),
          "set-up": re.compile(r"INFO blip_diffusion\.training\.loop: .*: set-up ([\d.]+) s"),
          "steps": re.compile(r"INFO blip_diffusion\.training\.loop: .*, \d+ steps ([\d.]+) s"),
          "export": re.compile(r"INFO blip_diffusion\.training\.loop: .*, export ([\d.]+) s")}
# parts of "set-up" (not added to the phases' sum)
SETUP_PARTS = re.compile(r"INFO blip_diffusion\.training\.finetune: set-up: models on \S+ in ([\d.]+) s, "
                         r"photos encoded in ([\d.]+) s, subject encoded in ([\d.]+) s")


def phases(log: str, wall: float) -> dict[str, float]:
    """Seconds per phase from the command's ``-v`` log; "start-up" is the rest (interpreter, imports, exit)."""
    found = {name: float(match.group(1)) for name, pattern in PHASES.items() if (match := pattern.search(log))}
    return {**found, "start-up": wall - sum(found.values())}


def setup_parts(log: str) -> dict[str, float]:
    """Seconds of the set-up's parts (models to the device, photos through the VAE, subject encoding)."""
    match = SETUP_PARTS.search(log)
    return dict(zip(("to device", "photos", "subject"), map(float, match.groups()))) if match else {}


def time_finetune(model: Path, photos: list[Path], word: str, flags: list[str], steps: int, out: Path,
                  config: Path | None) -> tuple[float, str]:
    """Wall seconds of one ``blip-diffusion -v finetune`` process, and its log."""
    command = [sys.executable, "-m", "blip_diffusion.cli.main", "-v", "finetune", "--model", str(model),
               "--subject", *map(str, photos), "--subject-class", word, "--steps", str(steps), "--out", str(out), *flags]
    if config:
        command += ["--config", str(config)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run(command, check=False, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"fine-tuning failed ({' '.join(command)}):\n{done.stderr[-3000:]}")
    return wall, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sd15", action="store_true", help="real-size architecture, random weights (needs a GPU)")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per fine-tune")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS), metavar="METHOD",
                        help=f"which of: {'; '.join(METHODS)}")
    parser.add_argument("--json", default=None, help="write the numbers to this file")
    args = parser.parse_args()
    if args.sd15 and not torch.cuda.is_available():
        sys.exit("--sd15 needs a CUDA GPU")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = None
        if args.sd15:
            model, (photos, word) = Path(tmp) / "sd15", PHOTO_SUBJECT
            build_sd15(torch.device("cuda"), STAND_IN_VOCAB).save_pretrained(model)
            config = Path(tmp) / "fp16.toml"
            config.write_text('[run]\nmixed_precision = "fp16"\n')
        else:
            model, (photos, word) = TOY_MODEL, TOY_SUBJECT
        for index, name in enumerate(args.methods):
            seconds, log = time_finetune(model, photos, word, METHODS[name], args.steps, Path(tmp) / f"out{index}",
                                         config)
            parts, setup = phases(log, seconds), setup_parts(log)
            rows.append({"method": name, "steps": args.steps, "wall_s": seconds, "phases_s": parts,
                         "setup_parts_s": setup})
            breakdown = ", ".join(f"{phase} {value:.1f}" for phase, value in parts.items())
            breakdown += "; set-up: " + ", ".join(f"{part} {value:.1f}" for part, value in setup.items())
            print(f"{name:28s} {args.steps} steps  {seconds:7.1f} s wall (set-up included; {breakdown})", flush=True)
    where = device_name(torch.device("cuda" if args.sd15 else "cpu"))
    print(f"device: {where}; torch {torch.__version__}; {len(photos)} photos of a {word}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": where, "torch": torch.__version__, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

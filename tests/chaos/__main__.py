"""`python -m tests.chaos [--seed N] [--smoke] [--workdir DIR]`: one chaos run; prints the
seed, the faults injected and every violation; exits 1 on any violation."""

import argparse
import logging
import random
import sys
import tempfile
from pathlib import Path

from tests.chaos.scenario import FULL_FAULTS, SMOKE_FAULTS, run
from tests.chaos.workload import FULL, SMOKE


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, help="repeat a run (default: a random seed)")
    parser.add_argument("--smoke", action="store_true", help="the small version of make test")
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temp dir)")
    parser.add_argument(
        "--settle", type=float, default=300, help="seconds the workload may take after the chaos"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    again = f"python -m tests.chaos{' --smoke' if args.smoke else ''} --seed {seed}"
    print(f"chaos seed {seed} (repeat with: {again})", flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kubedag-chaos-"))
    print(f"logs in {workdir}", flush=True)
    shape, faults = (SMOKE, SMOKE_FAULTS) if args.smoke else (FULL, FULL_FAULTS)
    report = run(shape, faults, seed, workdir, args.settle)
    print("\n".join(report.lines()), flush=True)
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())

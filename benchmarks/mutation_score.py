"""The mutation score per module of the last `make mutation` run, from mutmut's files under mutants/.

Score = killed / (killed + survived): a mutant that times out or crashes the tests counts as killed
(the tests noticed), one no test reaches as survived. The survivors are listed with the line mutmut
changed, to be killed by a test or explained in docs/testing.md.

    python benchmarks/mutation_score.py              # the table
    python benchmarks/mutation_score.py --survivors  # and every survivor's diff
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def scores(mutants: Path) -> dict[str, Counter]:
    """Return {module path: Counter of mutmut statuses} for every mutated module under `mutants`."""
    out = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        out[str(meta.relative_to(mutants)).removesuffix(".meta")] = Counter(status_by_exit_code[c]
                                                                            for c in codes.values())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    args = parser.parse_args()
    mutants = ROOT / "mutants"
    table = scores(mutants)
    if not table:
        print("no mutmut results under mutants/: run make mutation first", file=sys.stderr)
        return 2
    print("| module | mutants | killed | survived | not checked | score |\n|---|---|---|---|---|---|")
    total = Counter()
    for module, counts in table.items():
        total += counts
        print(_row(module, counts))
    print(_row("**all**", total))
    if args.survivors:
        from mutmut.__main__ import find_mutant, get_diff_for_mutant  # mutmut's own `show`, in one process

        for meta in sorted(mutants.rglob("*.py.meta")):
            codes = json.loads(meta.read_text())["exit_code_by_key"]
            for name in [n for n, c in codes.items() if status_by_exit_code[c] in ("survived", "no tests")]:
                diff = get_diff_for_mutant(name, path=find_mutant(name).path)
                print(f"\n{name}\n" + "\n".join(line for line in diff.splitlines()
                                                if line[:1] in "+-" and line[:3] not in ("+++", "---")))
    return 0


def _row(module: str, counts: Counter) -> str:
    killed = sum(counts[s] for s in KILLED)
    survived = counts["survived"] + counts["no tests"]
    judged = killed + survived
    score = f"{killed / judged:.0%}" if judged else "-"
    return (f"| {module} | {sum(counts.values())} | {killed} | {survived} | {counts['not checked']} | {score} |")


if __name__ == "__main__":
    sys.exit(main())

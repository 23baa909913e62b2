"""Which of a task's candidates (results/selection/candidates.py's JSON) each way of choosing
picks, and how often that pick passes and parses. Not product code.

    python results/selection/pick.py CANDIDATES.json [REQUESTS]

REQUESTS (default: all) limits the pool to the first N requests (1: the greedy one only)."""

import json
import math
import sys
from collections import Counter, defaultdict


def geomean(c: dict) -> float:
    conf = [x for x, t in zip(c["conf"], c["tokens"], strict=True) if t.strip()] or [c["mean"]]
    return math.exp(sum(math.log(max(x, 1e-6)) for x in conf) / len(conf))


def norm(text: str) -> str:
    return " ".join(text.split())


def by(score):
    return lambda pool: max(pool, key=score) if pool else None


def top(pool):  # the worker's order within the greedy request: what the server takes first
    return min(pool, key=lambda c: (c["request"], c["rank"])) if pool else None


def vote(weight):
    """The text written most often (weights summed), ties to the best single score."""

    def pick(pool):
        if not pool:
            return None
        total = defaultdict(float)
        for c in pool:
            total[norm(c["text"])] += weight(c)
        return max(pool, key=lambda c: (total[norm(c["text"])], geomean(c)))

    return pick


SELECTORS = {
    "top (greedy, worker rank)": top,
    "greedy mean, parsing": by(lambda c: c["mean"] if c["request"] == 0 else -1),
    "mean": by(lambda c: c["mean"]),
    "geomean": by(geomean),
    "geomean x len^0.5": by(lambda c: geomean(c) * math.sqrt(len(c["conf"]) + 1)),
    "sum log conf (product)": by(lambda c: sum(math.log(max(x, 1e-6)) for x in c["conf"])),
    "vote": vote(lambda c: 1.0),
    "vote x geomean": vote(geomean),
    "vote x mean": vote(lambda c: c["mean"]),
}


def main(path: str, requests: int | None) -> None:
    data = json.load(open(path))
    tasks = data["tasks"]
    print(
        f"{len(tasks)} tasks, lengths {data['lengths']}, {data['samples']} samples, pool: "
        f"{'all' if requests is None else requests} requests"
    )
    oracle = 0
    results = Counter()
    parsing = Counter()
    for t in tasks:
        pool = [c for c in t["candidates"] if requests is None or c["request"] < requests]
        pool = [c for c in pool if c["text"]]
        ok = [c for c in pool if c["parses"]]
        oracle += any(c["passed"] for c in ok)
        for name, pick in SELECTORS.items():
            chosen = pick(pool if name.startswith("top") else ok)
            results[name] += bool(chosen and chosen["passed"])
        for name, pick in SELECTORS.items():  # the pick among all candidates, parse or not: raw parse share
            chosen = pick(pool)
            parsing[name] += bool(chosen and chosen["parses"])
    print(f"oracle (any candidate passes): {oracle}")
    print(f"{'selector':<28}{'passed (among parsing)':>24}{'raw pick parses':>18}")
    for name in SELECTORS:
        print(f"{name:<28}{results[name]:>24}{parsing[name]:>18}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)

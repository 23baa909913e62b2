import json, sys, statistics, itertools
rows = json.load(open(sys.argv[1]))
vs_all = ["greedy", "steps16", "t08", "t05"]
for k in range(1, 5):
    for vs in itertools.combinations(vs_all, k):
        top = fp = tp = orc = 0
        for r in rows:
            cs = [c for v in vs for c in r["variants"][v] if c["text"]]
            if not cs: continue
            ranked = sorted(cs, key=lambda c: -c["mean"])
            top += ranked[0]["pass"]; tp += ranked[0]["parse"]
            f = next((c for c in ranked if c["parse"]), None); fp += bool(f and f["pass"])
            orc += any(c["pass"] for c in cs)
        print(f"{'+'.join(vs):28s} top1 {top:3d} firstparse {fp:3d} topparse {tp/len(rows):.3f} oracle {orc}")
for v in vs_all:
    ms = [r["variants"][v][0]["ms"] for r in rows if r["variants"][v] and "ms" in r["variants"][v][0]]
    print(v, "median ms", statistics.median(ms))

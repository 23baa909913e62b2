import json
from tokenizers import Tokenizer
from lsp.eval.tasks import all_tasks, load_problems, sample
tok = Tokenizer.from_file("model/checkpoints/fillgap-small/tokenizer.json")
rows = {r["task"]: r for r in json.load(open("results/headroom/single-200.json"))}
tasks = sample(all_tasks(load_problems(), "single"), 200, seed=1)
st = {True: [0, 0, 0], False: [0, 0, 0]}
for t in tasks:
    n = len(tok.encode(t.document[:t.cursor]).ids) + len(tok.encode(t.document[t.end:]).ids) + 2 + 32
    r = rows[t.id]; o = n > 256
    st[o][0] += 1
    st[o][1] += any(c["pass"] for c in r["variants"]["greedy"][:1])
    st[o][2] += any(c["pass"] for v in r["variants"].values() for c in v)
print("overflow: tasks, greedy top pass, oracle", st[True]); print("fits:", st[False])

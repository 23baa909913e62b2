"""Tasks of results/headroom/single-200.json whose prompt overflows the worker's window, against
those that fit: [tasks, greedy top candidate passes, any candidate passes] of each."""
import json
from pathlib import Path

from tokenizers import Tokenizer

from lsp.eval.tasks import all_tasks, load_problems, sample
from model.masked_engine import window_tokens

folder = Path("model/checkpoints/fillgap-small")
tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
limit = window_tokens(json.loads((folder / "config.json").read_text()))
rows = {r["task"]: r for r in json.load(open("results/headroom/single-200.json"))}
st = {True: [0, 0, 0], False: [0, 0, 0]}
for t in sample(all_tasks(load_problems(), "single"), 200, seed=1):
    r = rows[t.id]
    n_around = len(tok.encode(t.document[: t.cursor]).ids) + len(tok.encode(t.document[t.end :]).ids)
    over = n_around + 2 + max(r["budgets"]) > limit  # the worker's own test (masked_engine._note_truncation)
    greedy = r["variants"]["greedy"]
    st[over][0] += 1
    st[over][1] += bool(greedy and greedy[0]["pass"])
    st[over][2] += any(c["pass"] for v in r["variants"].values() for c in v)
print("overflow: tasks, greedy top pass, oracle", st[True])
print("fits:", st[False])

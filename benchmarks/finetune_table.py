"""The Omniglot fine-tuning and distillation table, from the runs' results.json files.

Usage:  python benchmarks/finetune_table.py [--runs runs] [--out benchmarks/results]

Reads the workdirs of `metaft run pretrain_omniglot`, `born_again_omniglot`,
`metadistil_omniglot` and `maml_omniglot:5w1s` (default `runs/<name>`), prints one Markdown
table (a row per learner and fine-tuning protocol, a column per N-way K-shot setting) and
copies the rows to `<out>/finetune_omniglot.json`.
"""

import argparse
import json
import pathlib

RUNS = {'MAML': 'maml_omniglot_5w1s', 'pretrain': 'pretrain_omniglot',
        'born-again': 'born_again_omniglot', 'MetaDistil': 'metadistil_omniglot'}
SETTINGS = ('5w1s', '5w5s', '20w1s', '20w5s')
HOW = {'proto': 'prototype head, no step', 'head': 'new head only, 100 Adam steps',
       'all': 'whole network, 100 Adam steps', None: 'MAML, 3 SGD steps'}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--runs', default='runs')
  parser.add_argument('--out', default='benchmarks/results')
  args = parser.parse_args()
  rows, budgets = [], {}
  for label, name in RUNS.items():
    path = pathlib.Path(args.runs) / name / 'results.json'
    if not path.exists():
      print(f'(no {path})')
      continue
    for r in json.loads(path.read_text()):
      if r.get('protocol') is None and r['adapt_steps'] != 3:  # MAML: the paper's 3 steps
        continue
      setting, how = (r['protocol'].split() if r.get('protocol') else
                      (f"{r['ways']}w{r['shots']}s", None))
      rows.append({**r, 'group': label, 'setting': setting, 'how': how})
      budgets[label] = (r['train_steps'], r['train_seconds'])
  table = {}
  for r in rows:
    table.setdefault((r['group'], r['how']), {})[r['setting']] = (
        f"{100 * r['mean']:.2f} ± {100 * r['ci95']:.2f}%")
  print('| learner | fine-tuning | ' + ' | '.join(SETTINGS) + ' | training |')
  print('|---|---|' + '---|' * len(SETTINGS) + '---|')
  for group, how in [(g, h) for g in RUNS for h in HOW if (g, h) in table]:
    cells, (steps, seconds) = table[group, how], budgets[group]
    print(f'| {group} | {HOW[how]} | ' + ' | '.join(cells.get(s, '-') for s in SETTINGS)
          + f' | {steps} steps, {seconds:,.0f} s |')
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / 'finetune_omniglot.json').write_text(json.dumps(rows, indent=2))


if __name__ == '__main__':
  main()

"""The Omniglot meta-learner table, from the runs' results.json files.

Usage:  python benchmarks/omniglot_table.py [--runs runs] [--out benchmarks/results]

Reads the committed copies of the runs' results, `<out>/<learner>_omniglot*.json` (each a
workdir's `results.json`, copied there because workdirs are not committed), and then every
`<runs>/*omniglot*/results.json` (the workdirs of `metaft run maml_omniglot:5w1s`,
`protonets_omniglot`, `reptile_omniglot`, ...), whose rows replace a copy's for the same cell.
It keeps the rows scored the way the paper scores (those with a published number: the paper's
test steps), and prints one Markdown table: a row per learner with our mean and 95% interval
per N-way K-shot setting, the training budget beside it, and the published number under it.
The rows go to `<out>/omniglot_table.json`. So a fresh checkout reprints the committed table.
"""

import argparse
import json
import pathlib

SETTINGS = ('5w1s', '5w5s', '20w1s', '20w5s')
NAMES = {'maml': 'MAML', 'fomaml': 'first-order MAML', 'protonets': 'ProtoNets',
         'reptile': 'Reptile (transductive)', 'anil': 'ANIL', 'metasgd': 'Meta-SGD',
         'imaml': 'iMAML', 'reptile (fresh inner Adam)': 'Reptile, inner Adam fresh per task'}
# The papers' tables, for the settings not run yet (a run's rows carry their own number).
PUBLISHED = {'maml': (98.7, 99.9, 95.8, 98.9), 'fomaml': (98.3, 99.2, 89.4, 97.9),
             'protonets': (98.8, 99.7, 96.0, 98.9), 'reptile': (97.68, 99.48, 89.43, 97.12),
             'anil': (None, None, 96.2, 98.0), 'metasgd': (99.53, 99.93, None, None),
             'imaml': (99.16, 99.67, 94.46, 98.69)}


def collect(runs: pathlib.Path, copies: pathlib.Path | None = None) -> list[dict]:
  """The rows with a published number, one per (learner, setting): from the committed copies
  ``copies/<learner>_omniglot*.json``, then from every Omniglot workdir under ``runs``."""
  paths = [p for name in PUBLISHED for p in sorted(copies.glob(f'{name}_omniglot*.json'))
           ] if copies else []
  paths += sorted(runs.glob('*omniglot*/results.json'))
  cells = {}
  for path in paths:
    workdir = path.parent.name if path.name == 'results.json' else path.stem
    for r in json.loads(path.read_text()):
      if r.get('published') is None or r.get('mean') is None:
        continue
      protocol = r.get('protocol')
      learner = r['learner'][:-len(f' ({protocol})')] if protocol else r['learner']
      setting = f"{r['ways']}w{r['shots']}s"
      cells[learner, setting] = {**r, 'learner': learner, 'setting': setting,
                                  'workdir': workdir}
  return list(cells.values())


def markdown(rows: list[dict]) -> str:
  cells = {(r['learner'], r['setting']): r for r in rows}
  learners = sorted({r['learner'] for r in rows} | set(PUBLISHED),
                    key=lambda l: (list(NAMES).index(l) if l in NAMES else len(NAMES), l))
  lines = ['| learner | ' + ' | '.join(SETTINGS) + ' |', '|---|' + '---|' * len(SETTINGS)]
  for learner in learners:
    ours, paper = [], []
    for i, s in enumerate(SETTINGS):
      r = cells.get((learner, s))
      published = r['published'] * 100 if r else PUBLISHED.get(learner, (None,) * 4)[i]
      ours.append(f"{100 * r['mean']:.2f} ± {100 * r['ci95']:.2f}% "
                  f"({r['train_steps']:,} steps, {r['train_seconds']:,.0f} s)" if r
                  else 'not run' if published else '-')
      paper.append(f'{published:.2f}%' if published else '-')
    name = NAMES.get(learner, learner)
    lines.append(f'| {name} (ours) | ' + ' | '.join(ours) + ' |')
    lines.append(f'| {name} (published) | ' + ' | '.join(paper) + ' |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--runs', default='runs')
  parser.add_argument('--out', default='benchmarks/results')
  args = parser.parse_args()
  out = pathlib.Path(args.out)
  rows = collect(pathlib.Path(args.runs), out)
  print(markdown(rows))
  out.mkdir(parents=True, exist_ok=True)
  (out / 'omniglot_table.json').write_text(json.dumps(rows, indent=2))


if __name__ == '__main__':
  main()

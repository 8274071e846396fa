"""The benchmark scripts that rebuild committed tables from committed results."""

import importlib.util
import json
import pathlib

BENCHMARKS = pathlib.Path(__file__).parents[1] / 'benchmarks'


def _load(name):
  spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _row(mean, ways=5, shots=1, published=0.987, learner='maml'):
  return dict(learner=learner, ways=ways, shots=shots, mean=mean, ci95=0.003,
              train_steps=100, train_seconds=10.0, published=published)


def test_omniglot_table_reads_committed_copies_and_prefers_runs(tmp_path):
  table = _load('omniglot_table')
  copies, runs = tmp_path / 'results', tmp_path / 'runs'
  copies.mkdir()
  (copies / 'maml_omniglot_5w1s.json').write_text(json.dumps([_row(0.95)]))
  (copies / 'maml_omniglot_5w5s.json').write_text(json.dumps([_row(0.99, shots=5)]))
  # Not a meta-learner run: its MAML row must not fill the table's cell.
  (copies / 'finetune_omniglot.json').write_text(json.dumps([_row(0.5, ways=20)]))
  (runs / 'maml_omniglot_5w1s').mkdir(parents=True)
  (runs / 'maml_omniglot_5w1s' / 'results.json').write_text(json.dumps([_row(0.97)]))

  rows = {r['setting']: r for r in table.collect(runs, copies)}
  assert {s: r['mean'] for s, r in rows.items()} == {'5w1s': 0.97, '5w5s': 0.99}
  assert rows['5w5s']['workdir'] == 'maml_omniglot_5w5s'
  markdown = table.markdown(list(rows.values()))
  assert '| MAML (ours) | 97.00 ± 0.30% (100 steps, 10 s) | 99.00 ± 0.30% (100 steps, 10 s)' in (
      markdown)
  assert '| iMAML (ours) | not run |' in markdown

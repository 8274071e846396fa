"""The benchmark scripts that rebuild committed tables from committed results."""

import importlib.util
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from metaft import core, losses, models

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


def test_head_curvature_is_the_least_squares_hessian_of_the_last_layer():
  """For MSE, the Hessian in the last layer is (2 / S) [F 1]^T [F 1], F the features."""
  curvature = _load('head_curvature')
  model = models.mlp(num_outputs=1, hidden=(8,))
  kx, kp, ky = jax.random.split(jax.random.key(0), 3)
  x_TxSxD = jax.random.normal(kx, (3, 6, 2))
  params = model.init(kp, x_TxSxD[0])
  y_TxSx1 = jax.random.normal(ky, (3, 6, 1))
  tasks = core.Task(core.Split(x_TxSxD, y_TxSx1), core.Split(x_TxSxD, y_TxSx1))
  got = curvature.largest_eigenvalues(model, losses.mse, params, tasks)
  first = params['Dense_0']
  for t in range(3):
    f_SxH = jax.nn.relu(x_TxSxD[t] @ first['kernel'] + first['bias'][None])
    a_SxA = jnp.concatenate([f_SxH, jnp.ones((6, 1))], axis=1)
    expected = np.linalg.eigvalsh(2 / 6 * np.asarray(a_SxA.T @ a_SxA))[-1]
    np.testing.assert_allclose(got[t], expected, rtol=1e-4)

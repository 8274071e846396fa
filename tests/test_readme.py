"""The README's code runs as written: the core API block and the new-learner example."""

import json
import pathlib
import re

import pytest

from metaft import runner

README = (pathlib.Path(__file__).parents[1] / 'README.md').read_text()


def _python_blocks():
  return re.findall(r'```python\n(.*?)```', README, flags=re.S)


def _block_with(marker):
  (block,) = [b for b in _python_blocks() if marker in b]
  return block


def test_core_api_block_trains_and_fine_tunes():
  scope = {}
  exec(_block_with('outer.make_train_fn'), scope)  # noqa: S102 - our own README
  state, mse, adapted = scope['state'], scope['mse'], scope['adapted']
  assert int(state['step']) == 5000
  assert mse.shape == (600,) and 0 < mse.mean() < 2.5  # the pretrained baseline is ~2.4
  assert set(adapted) == set(state['params'])


def test_new_learner_example_runs_as_an_experiment(tmp_path, monkeypatch):
  for name in ('my_learners', 'my_experiment', 'check_my_learner'):
    (tmp_path / f'{name}.py').write_text(_block_with(f'# {name}.py'))
  monkeypatch.syspath_prepend(str(tmp_path))
  exec((tmp_path / 'check_my_learner.py').read_text(), {})  # noqa: S102 - the conformance suite
  rows = runner.run(str(tmp_path / 'my_experiment.py') + ':smoke', str(tmp_path / 'run'),
                    progress=False)
  assert rows[0]['learner'] == 'learned-lr MAML'
  logged = [json.loads(l) for l in (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()]
  assert logged[0]['lr'] != pytest.approx(logged[-1]['lr'], rel=1e-4)  # the lr is learned

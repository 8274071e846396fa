"""The experiment runner and the command line: smoke runs, exact resume, clear errors."""

import importlib
import json

import jax
import numpy as np
import pytest

from metaft import cli, config as config_lib, evaluate as evaluate_lib, runner

# Suites run their members' smoke variants; those are covered one by one below. Jobs other
# than meta-training (fine-tuning a checkpoint) have tests of their own (test_finetune.py), and
# so have experiments on the tensorflow-datasets catalogue, which would download their data
# (test_tfds_images.py runs them on a fake catalogue).
_CONFIGS = {n: config_lib.load_config(n)[1] for n in config_lib.available_experiments()}
SUITES = [n for n, c in _CONFIGS.items() if 'runs' in c]
SINGLE = [n for n, c in _CONFIGS.items() if n not in SUITES and c.get('job') != 'finetune'
          and c.get('task', {}).get('name') != 'tfds_images']


def _needs_missing_data(name):
  if config_lib.load_config(f'{name}:smoke')[1].task.name != 'omniglot':
    return False
  try:
    importlib.import_module('metaft.data.omniglot').find_data_dir()
    return False
  except config_lib.UserError:
    return True


# The distillation experiments' smoke runs (a teacher, then a student: 30-60 s each) run with
# `pytest -m slow`; tests/test_finetune.py covers their learners in the default suite.
SLOW_SMOKE = ('metadistil_omniglot', 'born_again_omniglot')


@pytest.mark.parametrize('name', [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SMOKE
                                  else n for n in SINGLE])
def test_smoke_run_of_every_experiment(name, tmp_path):
  if _needs_missing_data(name):
    pytest.skip('Omniglot not found: set METAFT_DATA_DIR')
  rows = runner.run(f'{name}:smoke', str(tmp_path), progress=False)
  saved = json.loads((tmp_path / 'results.json').read_text())
  assert saved == rows and len(rows) >= 1
  for row in rows:
    assert set(runner.ROW_KEYS) <= set(row)
    assert np.isfinite(row['mean']) and row['ci95'] > 0
  assert (tmp_path / 'learning_curve.png').stat().st_size > 1000
  assert (tmp_path / 'results.md').read_text().startswith('| learner |')
  metrics = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  config = config_lib.load_config(f'{name}:smoke')[1]
  assert metrics[-1]['step'] == config.train_steps
  assert (tmp_path / 'checkpoints' / str(config.train_steps)).is_dir()


@pytest.mark.slow  # a 20-way Omniglot smoke run, about 35 s
def test_reptile_omniglot_20_way_variant(tmp_path):
  """The authors' 20-way command (10 Adam steps at 5e-4 on 20 images, 200,000 meta-steps)
  scored on both 20-way settings."""
  config = config_lib.load_config('reptile_omniglot:20w')[1]
  assert (config.task.ways, config.train_steps) == (20, 200_000)
  assert (config.learner.inner_steps, config.learner.inner_lr, config.learner.inner_batch) == (
      10, 5e-4, 20)
  if _needs_missing_data('reptile_omniglot'):
    pytest.skip('Omniglot not found: set METAFT_DATA_DIR')
  rows = runner.run('reptile_omniglot:20w,smoke', str(tmp_path), progress=False)
  assert [(r['ways'], r['shots'], r['published']) for r in rows] == [
      (20, 1, 0.8943), (20, 5, 0.9712)]
  assert all(np.isfinite(r['mean']) for r in rows)


def test_protonets_omniglot_trains_on_the_test_shot(tmp_path):
  """The paper trains one network per shot (60-way episodes, 5 queries per class): `:1s` is
  the 1-shot one, scored on the 1-shot settings only; the default serves all four."""
  shots_of = lambda c: sorted((p.task.ways, p.task.shots) for p in c.eval.protocols.values()
                              if 'published' in p)
  one = config_lib.load_config('protonets_omniglot:1s')[1]
  assert (one.task.ways, one.task.shots, one.task.query, one.train_steps) == (60, 1, 5, 20_000)
  assert shots_of(one) == [(5, 1), (20, 1)]
  default = config_lib.load_config('protonets_omniglot')[1]
  assert default.task.shots == 5
  assert shots_of(default) == [(5, 1), (5, 5), (20, 1), (20, 5)]
  if _needs_missing_data('protonets_omniglot'):
    pytest.skip('Omniglot not found: set METAFT_DATA_DIR')
  rows = runner.run('protonets_omniglot:1s,smoke', str(tmp_path), progress=False)
  assert sorted((r['ways'], r['shots'], r['published']) for r in rows
                if r['published'] is not None) == [(5, 1, 0.988), (20, 1, 0.96)]


@pytest.mark.parametrize('variant,inner_steps,meta_batch', [('5w1s', 16, 32), ('20w5s', 25, 16)])
def test_imaml_omniglot_follows_the_authors_command(variant, inner_steps, meta_batch):
  """The iMAML authors' command and code (inner loop, CG system, Adam) and budget of 20,000
  meta-steps; MAML keeps 40,000."""
  config = config_lib.load_config(f'imaml_omniglot:{variant}')[1]
  assert (config.train_steps, config.meta_batch) == (20_000, meta_batch)
  assert dict(config.learner) == dict(name='imaml', lam=2.0, inner_lr=0.1,
                                      inner_steps=inner_steps, cg_steps=5,
                                      pull_back=True, cg_lam=24.0)
  # Their Adam (eps 1e-3) on their meta-gradient, which is half ours (cg_lam): eps 2e-3 here.
  assert config.outer.to_dict() == dict(name='adam', learning_rate=1e-3, eps=2e-3)
  # MAML's network, with the keys that give the authors' one settable from the command line.
  assert config.model.to_dict() == dict(name='conv4', filters=64, pool=False, readout='mean',
                                        padding='same', bn_epsilon=1e-3, init_gain=1.0)
  published = config.eval.published
  assert {k: p.to_dict() for k, p in config.eval.protocols.items()} == {
      'training': dict(adapt_steps=(inner_steps,)),
      'plain': dict(learner=dict(lam=0.0), adapt_steps=(inner_steps,), published=published)}
  assert published[0] == inner_steps
  assert config_lib.load_config(f'maml_omniglot:{variant}')[1].train_steps == 40_000
  assert config_lib.load_config(f'imaml_omniglot:{variant},smoke')[1].train_steps == 20


@pytest.mark.parametrize('name', SUITES)
def test_suites_name_existing_experiments(name):
  _, config = config_lib.load_config(f'{name}:smoke')
  for spec in config.runs:
    assert config_lib.load_config(spec)[1].train_steps <= 1000  # smoke variants


def test_suite_writes_combined_results(tmp_path):
  """A suite (here a two-run suite file; its members' smoke runs, like the sine suite's six,
  are each covered by ``test_smoke_run_of_every_experiment``) trains each run in its own
  sub-workdir with the overrides, and writes the combined rows and curves."""
  suite = tmp_path / 'pair.py'
  suite.write_text('import ml_collections\n\ndef get_config(arg=None):\n'
                   '  return ml_collections.ConfigDict(dict(runs=("sine_maml:k5,smoke", '
                   '"sine_pretrain:k10,smoke")))\n')
  rows = runner.run(str(suite), str(tmp_path / 'out'),
                    {'train_steps': '50', 'eval.num_tasks': '20'}, progress=False)
  # MAML: 2 test step counts; pretrain: 7 rows of 4 fine-tuning protocols
  assert len(rows) == 9 and all(r['train_steps'] == 50 and r['n_tasks'] == 20 for r in rows)
  assert {(r['learner'], r['shots']) for r in rows} == {
      ('maml', 5), ('pretrain (SGD)', 10), ('pretrain (Adam)', 10),
      ('pretrain (Adam, early stop)', 10), ('pretrain (Adam, L2-SP)', 10)}
  assert json.loads((tmp_path / 'out' / 'results.json').read_text()) == rows
  assert (tmp_path / 'out' / 'learning_curve.png').stat().st_size > 1000
  for run in ('sine_maml_k5_smoke', 'sine_pretrain_k10_smoke'):
    assert [json.loads(l)['step'] for l in (tmp_path / 'out' / run / 'metrics.jsonl')
            .read_text().splitlines()][-1] == 50
  assert config_lib.load_config('sine')[1].runs == tuple(
      f'sine_{name}:k{k}' for name in ('maml', 'fomaml', 'pretrain') for k in (5, 10))


def test_resume_continues_exactly(tmp_path):
  straight = runner.run('sine_maml:smoke', str(tmp_path / 'a'), progress=False)
  runner.run('sine_maml:smoke', str(tmp_path / 'b'), {'train_steps': '100'}, progress=False)
  resumed = runner.run('sine_maml:smoke', str(tmp_path / 'b'), progress=False)
  assert [r['mean'] for r in resumed] == [r['mean'] for r in straight]
  log = lambda d: [json.loads(l) for l in (tmp_path / d / 'metrics.jsonl').read_text().splitlines()]
  assert [r['loss'] for r in log('b')] == [r['loss'] for r in log('a')]
  assert [r['step'] for r in log('b')] == [50, 100, 150, 200]


def test_kept_checkpoint_is_evaluated_without_touching_the_run(tmp_path):
  run_dir = tmp_path / 'run'
  settings = {'checkpoint_every': '50', 'keep_every': '100'}
  runner.run('sine_maml:smoke', str(run_dir), settings, progress=False)
  assert sorted(int(p.name) for p in (run_dir / 'checkpoints').iterdir()) == [100, 150, 200]
  metrics, results = ((run_dir / f).read_text() for f in ('metrics.jsonl', 'results.json'))
  earlier = runner.run('sine_maml:smoke', str(run_dir), {**settings, 'train_steps': '100'},
                       progress=False)
  straight = runner.run('sine_maml:smoke', str(tmp_path / 'straight'), {'train_steps': '100'},
                        progress=False)
  assert [r['mean'] for r in earlier] == [r['mean'] for r in straight]
  assert json.loads((run_dir / 'step_100' / 'results.json').read_text()) == earlier
  assert (run_dir / 'metrics.jsonl').read_text() == metrics
  assert (run_dir / 'results.json').read_text() == results
  with pytest.raises(config_lib.UserError, match='checkpoints at steps 100, 150, 200, none at '
                     'train_steps=50; pass one of those steps'):
    runner.run('sine_maml:smoke', str(run_dir), {**settings, 'train_steps': '50'},
               progress=False)
  resumed = runner.run('sine_maml:smoke', str(run_dir), {**settings, 'train_steps': '250'},
                       progress=False)
  assert resumed[0]['train_steps'] == 250
  assert sorted(int(p.name) for p in (run_dir / 'checkpoints').iterdir()) == [100, 200, 250]


def test_select_scores_the_kept_checkpoint_best_on_validation_tasks(tmp_path):
  if _needs_missing_data('maml_omniglot'):
    pytest.skip('Omniglot not found: set METAFT_DATA_DIR')
  settings = {'train_steps': '30', 'keep_every': '10', 'task.val_chars': '10'}
  select = {'eval.select.split': 'val', 'eval.select.num_tasks': '40'}
  rows = runner.run('maml_omniglot:smoke', str(tmp_path), {**settings, **select},
                    progress=False)
  record = json.loads((tmp_path / 'selection.json').read_text())
  scores = {int(step): value for step, value in record['scores'].items()}
  assert sorted(scores) == [10, 20, 30] and record['split'] == 'val'
  best = max(scores, key=scores.get)
  assert record['selected_step'] == best and all(r['selected_step'] == best for r in rows)
  assert rows[0]['learner'] == f'maml @ step {best} by val'
  # The rows are those of the chosen checkpoint, scored as a kept checkpoint is.
  direct = runner.run('maml_omniglot:smoke', str(tmp_path), {**settings, 'train_steps': str(best)},
                      progress=False)
  assert [r['mean'] for r in rows] == [r['mean'] for r in direct]


@pytest.mark.parametrize('settings, message', [
    ({'eval.select.split': 'val', 'task.val_chars': '10'}, 'set keep_every'),
    ({'eval.select.split': 'val', 'keep_every': '10'}, 'no meta-validation split: set val_chars'),
    ({'eval.select.patience': '3'}, 'set eval.select.split too'),
    ({'eval.select.split': 'test', 'keep_every': '10'}, "split='test' would choose the checkpoint"),
    ({'eval.select.split': 'val', 'keep_every': '10', 'task.val_chars': '10',
      'eval.select.patience': '0'}, r'eval.select.patience must be an integer >= 1, got 0'),
])
def test_select_is_refused_before_training(tmp_path, settings, message):
  if _needs_missing_data('maml_omniglot'):
    pytest.skip('Omniglot not found: set METAFT_DATA_DIR')
  with pytest.raises(config_lib.UserError, match=message):
    runner.run('maml_omniglot:smoke', str(tmp_path), settings, progress=False)
  assert not (tmp_path / 'metrics.jsonl').exists()


def test_resume_with_other_settings_is_refused(tmp_path):
  runner.run('sine_maml:smoke', str(tmp_path), {'train_steps': '50'}, progress=False)
  with pytest.raises(config_lib.UserError, match='holds a run with other settings.*seed'):
    runner.run('sine_maml:smoke', str(tmp_path), {'seed': '3'}, progress=False)


@pytest.mark.parametrize('name', ['maml_omniglot', 'anil_omniglot', 'imaml_omniglot'])
def test_aug_flag_augments_the_meta_training_tasks_only(name):
  """``:20w1s,aug`` is the 20w1s run on augmented training tasks; without the flag the task
  settings (and so the config.json of earlier runs, which must still resume) do not change."""
  plain, augmented = (config_lib.load_config(f'{name}:20w1s{flag}')[1] for flag in ('', ',aug'))
  assert (augmented.task.shift, augmented.task.degrees) == (2, 10.0)
  assert 'shift' not in plain.task and 'degrees' not in plain.task
  assert augmented.label == plain.label + ' +aug'
  assert 'shift' not in augmented.eval.task
  smoke = config_lib.load_config(f'{name}:aug,smoke')[1]
  assert (smoke.task.ways, smoke.task.shift, smoke.train_steps) == (5, 2, 20)


@pytest.mark.parametrize('argv, message', [
    (['run', 'sine_mam'], "unknown experiment 'sine_mam'. Did you mean sine_maml"),
    (['run', 'sine_maml:k7'], 'unknown variant k7; variants: k5, k10, smoke'),
    (['run', 'maml_omniglot:20w1s,agu'], 'unknown variant agu; variants: 5w1s, 5w5s, 20w1s, '
     '20w5s, smoke, aug'),
    (['run', 'sine_maml', '--config.train_stepz=5'], "unknown config key 'train_stepz'. "
     'Did you mean train_steps'),
    (['run', 'sine_maml', '--config.train_steps=-5'], 'config.train_steps must be an integer '
     '>= 0, got -5'),
    (['run', 'sine_maml', '--config.meta_batch=many'], "config key 'meta_batch' wants a int"),
    (['run', 'sine_maml', '--config.keep_every=-1'], 'config.keep_every must be an integer '
     '>= 0, got -1'),
    (['run', 'sine_maml', '--config.learner.inner_steps=-1'], 'inner_steps must be >= 0'),
    (['run', 'sine_maml', '--config.eval.adapt_steps=(1,-2)'], 'eval.adapt_steps must be an '
     'integer >= 0, got -2'),
    (['run', 'sine_maml', '--config.learner.name=mamll'], "unknown learners 'mamll'"),
    (['run', 'sine_maml', '--config.learner.inner_lrr=0.1'], "learners 'maml' does not take "
     "'inner_lrr'; it takes inner_lr, inner_steps"),
    (['run', 'sine_maml', '--config.eval.tsk.ways=2'], "unknown config key 'eval.tsk.ways'"),
    (['run', 'sine_maml', '--config.task_map=pmap'], 'task_map must be one of'),
    (['run', 'sine_maml', '--config.task.shots=0'], 'sine needs shots >= 1'),
    (['run', 'sine_maml', '--steps=3'], "unrecognised argument '--steps=3'"),
    (['run', 'nowhere.py'], 'experiment file nowhere.py does not exist'),
])
def test_user_errors_are_one_clear_message(argv, message, capsys, tmp_path):
  assert cli.main(argv + ['--workdir', str(tmp_path)]) == 2
  err = capsys.readouterr().err
  assert err.startswith('metaft: error: ') and message in err, err
  assert 'Traceback' not in err


def test_a_factory_setting_the_config_lacks_may_be_given(tmp_path):
  _, config = config_lib.load_config('sine_maml:smoke')
  assert 'l2_sp' not in config.learner
  config_lib.apply_overrides(config, {'learner.l2_sp': '0.5'})
  assert config.learner.l2_sp == 0.5
  learner, family, _, _ = runner.build(config)
  task = family.draw(1, key=jax.random.key(0))
  task = jax.tree.map(lambda x: x[0], task)
  params = learner.init(jax.random.key(1), task.support.x)
  plain = runner.build(config_lib.load_config('sine_maml:smoke')[1])[0]
  assert not np.allclose(learner.adapt(params, task.support, steps=5)['Dense_0']['kernel'],
                         plain.adapt(params, task.support, steps=5)['Dense_0']['kernel'])


def test_unknown_factory_setting_names_the_accepted_ones(tmp_path):
  _, config = config_lib.load_config('sine_maml:smoke')
  config.learner.inner_lrr = 0.1
  with pytest.raises(config_lib.UserError, match="learners 'maml' does not take 'inner_lrr'; "
                     'it takes inner_lr, inner_steps, inner_opt, first_order'):
    runner.build(config)


def test_model_output_size_follows_the_family_unless_the_config_sets_it():
  import jax
  x = jax.numpy.zeros((2, 28, 28, 1))
  for settings, expected in [({'name': 'conv4', 'filters': 4}, (2, 5)),
                             ({'name': 'conv4', 'filters': 4, 'num_outputs': 0}, (2, 4 * 4))]:
    model = runner.build_model(settings, 5)
    assert model.apply(model.init(jax.random.key(0), x), x).shape == expected


def test_cli_prints_the_table(capsys, tmp_path):
  assert cli.main(['run', 'sine_fomaml:smoke', '--quiet', '--workdir', str(tmp_path),
                   '--config.train_steps=50']) == 0
  out = capsys.readouterr().out
  assert '| fomaml | sine | - | 10 | 1 | mse |' in out and '| - | 50 | 50 |' in out


def test_list_names_the_experiments(capsys):
  assert cli.main(['list']) == 0
  lines = capsys.readouterr().out.splitlines()
  assert [l.split()[0] for l in lines] == config_lib.available_experiments()
  assert lines[config_lib.available_experiments().index('reptile_omniglot')].endswith(
      'Reptile on Omniglot (Nichol, Achiam & Schulman 2018, table 1, transductive).')


def test_training_divergence_stops_with_a_hint(capsys, tmp_path):
  assert cli.main(['run', 'sine_maml:smoke', '--quiet', '--workdir', str(tmp_path),
                   '--config.outer.name=sgd', '--config.outer.learning_rate=1000.0']) == 2
  err = capsys.readouterr().err
  assert 'training diverged at step 50' in err and 'Lower the learning rates' in err


def test_diverged_test_tasks_are_reported_not_averaged():
  from metaft import learners, testing
  import jax
  _, config = config_lib.load_config('sine_maml:smoke')
  config.eval.num_tasks, config.eval.batch_size, config.eval.adapt_steps = 20, 20, (0, 10)
  family = testing.quadratic_family()
  learner = learners.maml(testing.linear_model(), family.loss, inner_lr=100.0)
  params = learner.init(jax.random.key(0), family.draw(1, key=jax.random.key(0)).support.x[0])
  rows = runner.evaluate_rows(config, learner, family, params, train_seconds=1.0)
  assert rows[0]['nonfinite'] == 0 and np.isfinite(rows[0]['mean'])
  assert rows[1]['nonfinite'] == 20 and rows[1]['mean'] is None
  assert 'diverged on 20 of 20 tasks' in runner.markdown_table(rows)
  assert rows[0]['median'] == pytest.approx(np.median(evaluate_lib.evaluate(
      learner, family, params, num_tasks=20, steps=0, batch_size=20,
      key=jax.random.fold_in(jax.random.key(config.seed), 1))['mse']))
  # A mean that a few blown-up tasks dominate is shown with the median beside it.
  blown = dict(rows[0], mean=3.9e8, ci95=7.7e8, median=0.21)
  assert '| 3.9e+08 ± 7.7e+08 (median 0.21) |' in runner.markdown_table([blown])
  assert '(median' not in runner.markdown_table([dict(blown, mean=1.5)])


def test_outer_learning_rate_may_be_an_optax_schedule():
  import jax.numpy as jnp
  _, config = config_lib.load_config('sine_maml:smoke')
  config.outer = dict(name='sgd', learning_rate=dict(
      schedule='linear_schedule', init_value=1.0, end_value=0.0, transition_steps=4))
  config_lib.apply_overrides(config, {'outer.learning_rate.init_value': '2.0'})
  optimizer = runner.build(config)[3]
  params = {'w': jnp.zeros(())}
  state = optimizer.init(params)
  steps = []
  for _ in range(5):
    updates, state = optimizer.update({'w': jnp.ones(())}, state, params)
    steps.append(float(updates['w']))
  np.testing.assert_allclose(steps, [-2.0, -1.5, -1.0, -0.5, 0.0])
  config.outer.learning_rate.bogus = 1
  with pytest.raises(config_lib.UserError, match="schedule 'optax:linear_schedule' "
                     "does not take 'bogus'"):
    runner.build(config)


def test_reptile_schedule_follows_train_steps():
  _, config = config_lib.load_config('sine_reptile:smoke')
  config_lib.apply_overrides(config, {'train_steps': '300'})
  assert config.outer.learning_rate.transition_steps == 300


def test_eval_protocols_score_one_trained_network_several_ways(tmp_path):
  rows = runner.run('sine_pretrain:smoke', str(tmp_path), progress=False)
  got = [(r['learner'], r['adapt_steps']) for r in rows]
  assert got == [('pretrain (Adam)', 10), ('pretrain (Adam)', 100), ('pretrain (Adam, L2-SP)', 10),
                 ('pretrain (Adam, L2-SP)', 100), ('pretrain (Adam, early stop)', 100),
                 ('pretrain (SGD)', 1), ('pretrain (SGD)', 10)]
  by = {(r['protocol'], r['adapt_steps']): r['mean'] for r in rows}
  assert by[('Adam', 100)] < by[('SGD', 10)]  # Adam x100 fine-tunes further than SGD x10
  # A protocol is checked before training: a mistyped key or optimizer fails at once.
  _, config = config_lib.load_config('sine_pretrain:smoke')
  config.eval.protocols.Adam.learnr = {}
  with pytest.raises(config_lib.UserError, match="protocols.'Adam' takes task, learner, "
                     'adapt_steps and published; got learnr'):
    runner.run_single(config, tmp_path / 'bad', progress=False)
  _, config = config_lib.load_config('sine_pretrain:smoke')
  config.eval.protocols.Adam.learner.inner_opt.name = 'adamm'
  with pytest.raises(config_lib.UserError, match="unknown inner optimizer 'optax:adamm'"):
    runner.run_single(config, tmp_path / 'bad2', progress=False)
  assert not (tmp_path / 'bad2' / 'checkpoints').exists()


def test_a_list_of_inner_optimizers_is_their_chain():
  """``[clip_by_global_norm(1e-3), sgd(1.0)]``: one inner step moves the parameters by a
  global norm of exactly 1e-3 (the sine support gradient at init is far larger)."""
  from optax import tree_utils as otu
  _, config = config_lib.load_config('sine_maml:smoke')
  config.learner.inner_opt = [dict(name='clip_by_global_norm', max_norm=1e-3),
                              dict(name='sgd', learning_rate=1.0)]
  learner, family, _, _ = runner.build(config)
  task = jax.tree.map(lambda a: a[0], family.draw(1, key=jax.random.key(0)))
  theta = learner.init(jax.random.key(1), task.support.x)
  phi = learner.adapt(theta, task.support, steps=1)
  np.testing.assert_allclose(otu.tree_norm(otu.tree_sub(phi, theta)), 1e-3, rtol=1e-4)
  config.learner.inner_opt = [dict(name='clip_by_global_norm', max_norm=1e-3), 'sgd']
  with pytest.raises(config_lib.UserError, match='inner_opt must be .* a list of such dicts'):
    runner.build(config)


def test_outer_scale_multiplies_the_steps_of_the_meta_parameters_under_a_path():
  import jax.numpy as jnp
  _, config = config_lib.load_config('sine_maml:smoke')
  config.outer = dict(name='adam', learning_rate=0.1, scale={'Dense_0': 0.01, 'Dense_2/b': 0.0})
  optimizer = runner.build(config)[3]
  params = {'Dense_0': {'kernel': jnp.zeros(2)}, 'Dense_1': {'kernel': jnp.zeros(2)},
            'Dense_2': {'b': jnp.zeros(()), 'w': jnp.zeros(())}}
  grads = jax_tree_ones(params)
  updates, _ = optimizer.update(grads, optimizer.init(params), params)
  np.testing.assert_allclose(updates['Dense_0']['kernel'], -0.001, rtol=1e-4)  # Adam's first step is lr
  np.testing.assert_allclose(updates['Dense_1']['kernel'], -0.1, rtol=1e-4)
  assert float(updates['Dense_2']['b']) == 0.0 and float(updates['Dense_2']['w']) < -0.09


def jax_tree_ones(tree):
  import jax
  import jax.numpy as jnp
  return jax.tree.map(jnp.ones_like, tree)

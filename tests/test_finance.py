"""Tests for the stock-price loader and the on-device forecasting-task sampler."""

import gzip
import hashlib
import importlib
import importlib.util
import json
import pathlib
import shutil

import chex
import jax
import numpy as np
import pytest

from metaft import core, runner
from metaft.errors import UserError

fi = importlib.import_module('metaft.data.finance')


def _table_script():
  path = pathlib.Path(__file__).parents[1] / 'benchmarks' / 'stocks_table.py'
  spec = importlib.util.spec_from_file_location('stocks_table', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _data_dir():
  try:
    return fi.find_data_dir()
  except UserError:
    return None


DATA = _data_dir()
requires_data = pytest.mark.skipif(
    DATA is None, reason=f'stock prices not found; set {fi.ENV_VAR} to a folder with finance/')

_HEADER = 'date,open,high,low,close,volume,Name\n'


def _write_prices(folder, rows, *, sums=True):
  """A tiny price file in the real file's format, with a SHA256SUMS entry."""
  folder.mkdir(parents=True, exist_ok=True)
  path = folder / fi.FILE
  with gzip.open(path, 'wt') as f:
    f.write(_HEADER + ''.join(f'{d},1,1,1,{c},100,{t}\n' for t, d, c in rows))
  if sums:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / 'SHA256SUMS').write_text(f'{digest}  {fi.FILE}\n')
  return path


def _fake_rows():
  dates = [f'2020-01-{d:02d}' for d in range(1, 9)]
  close = {'AAA': [10, 11, 12, 11, 10, 12, 13, 14], 'DDD': [5, 5, 6, 7, 6, 5, 4, 5],
           'NAN': [1, 2, '', 3, 4, 5, 6, 7], 'PART': [1, 2, 3, 4, 5, 6, 7]}
  return [(t, d, c) for t, cs in close.items() for d, c in zip(dates, cs)]


def test_missing_data_dir_names_env_var(tmp_path, monkeypatch):
  with pytest.raises(UserError, match=fi.ENV_VAR) as info:
    fi.stocks(data_dir=tmp_path)
  assert f'finance/{fi.FILE}' in str(info.value)
  monkeypatch.setenv(fi.ENV_VAR, str(tmp_path / 'nowhere'))
  with pytest.raises(UserError, match=fi.ENV_VAR):
    fi.load_prices()


def test_loader_keeps_tickers_with_a_positive_close_on_every_date(tmp_path):
  _write_prices(tmp_path / 'finance', _fake_rows())
  prices = fi.load_prices(tmp_path)  # the folder containing finance/
  assert prices.tickers == ('AAA', 'DDD')  # NAN has an empty close, PART misses a date
  assert prices.dates[0] == '2020-01-01' and len(prices.dates) == 8
  np.testing.assert_array_equal(prices.close[0], [10, 11, 12, 11, 10, 12, 13, 14])
  assert fi.load_prices(tmp_path / 'finance').tickers == prices.tickers  # the folder itself


def test_corrupt_file_is_refused(tmp_path):
  path = _write_prices(tmp_path / 'finance', _fake_rows())
  (tmp_path / 'finance' / 'SHA256SUMS').write_text(f'{"0" * 64}  {fi.FILE}\n')
  with pytest.raises(UserError, match='does not match its SHA256SUMS entry'):
    fi.load_prices(tmp_path)
  assert path.is_file()


def test_bad_settings_are_clear_errors(tmp_path):
  _write_prices(tmp_path / 'finance', _fake_rows())
  cases = [(dict(lags=0), 'integer lags >= 1'), (dict(query=2.5), 'integer query >= 1'),
           (dict(target='price'), "target must be one of \\('return', 'volatility'\\)"),
           (dict(split='valid'), "split must be one of \\('train', 'val', 'test'\\)"),
           (dict(split='val'), 'no meta-validation split: set val_tickers'),
           (dict(val_tickers=-1), 'val_tickers must be an integer from 0 to'),
           (dict(val_days=6), 'val_days must be an integer from 0 to 5 \\(of the 6 '
            'meta-training days\\), got 6'),
           (dict(val_days='30'), "val_days must be an integer .* got '30'"),
           (dict(lags=3, shots=3, query=1), 'spans lags \\+ shots \\+ query = 7 days, more '
            "than the 6 days of the 'train' split"),
           (dict(split='test'), "the 'test' split has no tickers")]
  for settings, message in cases:
    with pytest.raises(UserError, match=message):
      fi.stocks(data_dir=tmp_path, **settings)


def test_tasks_are_consecutive_days_of_one_ticker_forecast_forward(tmp_path):
  """Every example is `lags` consecutive values and the next one, from one ticker's split;
  the query days follow the support days."""
  _write_prices(tmp_path / 'finance', _fake_rows())
  lags, shots, query = 2, 2, 1  # the train split has 6 returns of each ticker; windows of 5
  for target, transform in (('return', lambda r: r), ('volatility', np.abs)):
    family = fi.stocks(lags=lags, shots=shots, query=query, target=target, data_dir=tmp_path)
    returns_SxD, _ = fi.split_returns(fi.load_prices(tmp_path), 'train')
    series = transform(returns_SxD)
    tasks = jax.jit(family.sample, static_argnums=1)(family.data, 16, key=jax.random.key(3))
    chex.assert_shape([tasks.support.x, tasks.support.y, tasks.query.x, tasks.query.y],
                      [(16, shots, lags), (16, shots, 1), (16, query, lags), (16, query, 1)])
    for t in range(16):
      x = np.concatenate([tasks.support.x[t], tasks.query.x[t]])
      y = np.concatenate([tasks.support.y[t], tasks.query.y[t]])[:, 0]
      days = np.concatenate([x[0], y])  # the window: the first inputs, then each target
      np.testing.assert_array_equal(x[1:, -1], y[:-1])  # tomorrow's input is today's target
      windows = [row[s:s + len(days)] for row in series for s in range(len(row) - len(days) + 1)]
      assert any(np.allclose(days, w) for w in windows)  # one ticker, consecutive days


@requires_data
def test_real_prices_split_by_ticker_and_by_time():
  prices = fi.load_prices()
  assert prices.close.shape == (470, 1259)  # 505 tickers, 35 without a close on every date
  assert (prices.dates[0], prices.dates[-1]) == ('2013-02-08', '2018-02-07')
  assert np.all(np.isfinite(prices.close)) and np.all(prices.close > 0)
  train, train_tickers = fi.split_returns(prices, 'train')
  test, test_tickers = fi.split_returns(prices, 'test')
  assert (train.shape, test.shape) == ((376, 1006), (94, 252))  # 1258 returns: 1006 + 252
  assert not set(train_tickers) & set(test_tickers)
  assert sorted(train_tickers + test_tickers) == sorted(prices.tickers)
  aapl = prices.tickers.index('AAPL')
  expected = 100 * np.log(prices.close[aapl, 1:] / prices.close[aapl, :-1])
  got = train if 'AAPL' in train_tickers else test
  row = (train_tickers if 'AAPL' in train_tickers else test_tickers).index('AAPL')
  days = slice(None, 1006) if 'AAPL' in train_tickers else slice(1006, None)
  np.testing.assert_allclose(got[row], expected[days], rtol=1e-5, atol=1e-5)


@requires_data
def test_val_tickers_are_meta_training_tickers_over_the_meta_training_days():
  """``val_tickers`` moves that many meta-training tickers to a validation split over the same
  days; the meta-test split, and every split with the default 0, stay as they were."""
  prices = fi.load_prices()
  train, train_tickers = fi.split_returns(prices, 'train')
  test, test_tickers = fi.split_returns(prices, 'test')
  train_v, train_tickers_v = fi.split_returns(prices, 'train', val_tickers=40)
  val, val_tickers = fi.split_returns(prices, 'val', val_tickers=40)
  test_v, test_tickers_v = fi.split_returns(prices, 'test', val_tickers=40)
  assert (train_v.shape, val.shape) == ((336, 1006), (40, 1006))
  assert sorted(train_tickers_v + val_tickers) == sorted(train_tickers)
  assert not set(train_tickers_v) & set(val_tickers)
  rows = {t: r for t, r in zip(train_tickers, train)}
  for ticker, row in zip(val_tickers, val):
    np.testing.assert_array_equal(row, rows[ticker])
  assert test_tickers_v == test_tickers
  np.testing.assert_array_equal(test_v, test)


@requires_data
def test_val_days_are_the_last_meta_training_days():
  """``val_days`` moves the last meta-training days to the validation split: of every
  meta-training ticker alone, of the ``val_tickers`` with them; meta-test stays as it was."""
  prices = fi.load_prices()
  train, tickers = fi.split_returns(prices, 'train')
  train_d, tickers_d = fi.split_returns(prices, 'train', val_days=120)
  val_d, val_tickers_d = fi.split_returns(prices, 'val', val_days=120)
  assert (train_d.shape, val_d.shape) == ((376, 886), (376, 120)) and tickers_d == tickers
  assert val_tickers_d == tickers
  np.testing.assert_array_equal(np.concatenate([train_d, val_d], axis=1), train)
  train_both, train_tickers_both = fi.split_returns(prices, 'train', val_tickers=40,
                                                    val_days=120)
  val_both, val_tickers_both = fi.split_returns(prices, 'val', val_tickers=40, val_days=120)
  assert (train_both.shape, val_both.shape) == ((336, 886), (40, 120))
  assert val_tickers_both == fi.split_returns(prices, 'val', val_tickers=40)[1]
  rows = dict(zip(tickers, train))
  for ticker, row in zip(val_tickers_both, val_both):
    np.testing.assert_array_equal(row, rows[ticker][-120:])
  for ticker, row in zip(train_tickers_both, train_both):
    np.testing.assert_array_equal(row, rows[ticker][:886])
  test, test_tickers = fi.split_returns(prices, 'test')
  test_d, test_tickers_d = fi.split_returns(prices, 'test', val_tickers=40, val_days=120)
  assert test_tickers_d == test_tickers
  np.testing.assert_array_equal(test_d, test)


@requires_data
def test_stocks_early_stopping_selects_the_lowest_validation_loss(tmp_path):
  """On a loss, lower is better: the selected checkpoint has the lowest validation MSE, and
  training ended once ``patience`` kept checkpoints in a row did not lower it (here at step
  300 of 2000, the best at 200). Run again, it stays ended, and its checkpoints, scored
  afresh, score as they did during training."""
  settings = {'train_steps': '2000', 'log_every': '50', 'checkpoint_every': '50',
              'keep_every': '50', 'task.val_tickers': '40', 'eval.select.split': 'val',
              'eval.select.num_tasks': '100', 'eval.select.patience': '2'}
  rows = runner.run('stocks:maml,smoke', str(tmp_path), settings, progress=False)
  record = json.loads((tmp_path / 'selection.json').read_text())
  scores = {int(step): value for step, value in record['scores'].items()}
  assert record['metric'] == 'mse' and record['selected_step'] == min(scores, key=scores.get)
  last = max(scores)
  assert last < 2000 and last - record['selected_step'] == 2 * 50
  assert all(r['train_steps'] == last for r in rows)
  assert rows[0]['learner'] == f"maml @ step {record['selected_step']} by val"
  metrics = (tmp_path / 'metrics.jsonl').read_text()
  assert json.loads(metrics.splitlines()[-1])['step'] == last
  scored = [json.loads(l)['step'] for l in (tmp_path / 'validation.jsonl').open()]
  assert scored == sorted(scores)  # each scored once, during training
  (tmp_path / 'validation.jsonl').unlink()
  assert runner.run('stocks:maml,smoke', str(tmp_path), settings, progress=False) == rows
  assert json.loads((tmp_path / 'selection.json').read_text()) == record
  assert (tmp_path / 'metrics.jsonl').read_text() == metrics


def test_ridge_baseline_recovers_a_linear_autoregression():
  x_SxL = jax.random.normal(jax.random.key(0), (20, 3))
  w_L = np.array([0.5, -1.0, 2.0], np.float32)
  support = core.Split(x_SxL, (x_SxL @ w_L + 0.25)[:, None])
  query_x = jax.random.normal(jax.random.key(1), (4, 3))
  forecast = _table_script().ridge_forecast(support, query_x, l2=1e-6)
  np.testing.assert_allclose(forecast, query_x @ w_L + 0.25, atol=1e-4)


@requires_data
def test_stocks_smoke_experiment_learns_to_forecast(tmp_path, monkeypatch, capsys):
  """MAML's short run forecasts test tickers' volatility better than its untrained network;
  the table script scores the run beside the naive forecasts, paired."""
  rows = runner.run('stocks:maml,smoke', str(tmp_path), progress=False)
  assert json.loads((tmp_path / 'results.json').read_text()) == rows
  assert [r['adapt_steps'] for r in rows] == [5, 20]
  assert all(r['dataset'] == 'stocks-volatility' and r['n_tasks'] == 100 for r in rows)
  untrained = runner.run('stocks:maml,smoke', str(tmp_path / 'untrained'),
                         {'train_steps': '0'}, progress=False)
  for trained, before in zip(rows, untrained):
    assert trained['mean'] < before['mean'], (trained, before)
  table = _table_script()
  monkeypatch.setattr('sys.argv', ['stocks_table.py', str(tmp_path), f'{tmp_path}@100',
                                    '--num-tasks', '50'])
  table.main()
  lines = capsys.readouterr().out.splitlines()
  assert [l.split(' | ')[0] for l in lines[2:]] == (
      ['| maml, 5 steps', '| maml, 20 steps', '| maml @ step 100, 5 steps',
       '| maml @ step 100, 20 steps'] + [f'| {n}' for n in table.FORECASTS])
  assert lines[2].split(' | ')[1] != lines[4].split(' | ')[1]  # another checkpoint's MSE
  (reference,) = [l for l in lines if l.startswith(f'| {table.REFERENCE} |')]
  assert reference.endswith('| +0.000 ± 0.000 | 50 |')  # the reference minus itself
  # Two runs of one label (here a copy of the run) keep a row each, named by their paths.
  copy = shutil.copytree(tmp_path, tmp_path.parent / 'copy', ignore=lambda *_: ['untrained'])
  monkeypatch.setattr('sys.argv', ['stocks_table.py', f'{tmp_path}@100', f'{copy}@100',
                                    '--num-tasks', '50'])
  table.main()
  lines = capsys.readouterr().out.splitlines()
  assert [l.split(' | ')[0] for l in lines[2:6]] == [
      f'| {tmp_path}@100, 5 steps', f'| {tmp_path}@100, 20 steps', f'| {copy}@100, 5 steps',
      f'| {copy}@100, 20 steps']
  assert lines[2].split(' | ')[1:] == lines[4].split(' | ')[1:]  # the same run, scored twice
  # A run of other tasks is refused, not paired with tasks it did not forecast.
  monkeypatch.setattr('sys.argv', ['stocks_table.py', str(tmp_path), '--num-tasks', '50',
                                    '--target', 'return'])
  with pytest.raises(SystemExit, match="forecasts other tasks than the table.*'volatility'"):
    table.main()


@requires_data
def test_stocks_metasgd_rates_take_a_thousandth_of_adams_step():
  """Meta-SGD's rates start at the others' inner rate, 0.001, and move 1/1000 as fast as the
  weights (a full Adam step of 1e-3 would double them at once)."""
  from metaft import config as config_lib
  config = config_lib.load_config('stocks:metasgd,smoke')[1]
  learner, family, _, optimizer = runner.build(config)
  meta = learner.init(jax.random.key(0), family.draw(1, key=jax.random.key(0)).support.x[0])
  chex.assert_trees_all_equal(meta['lrs'], jax.tree.map(lambda p: np.full_like(p, 1e-3),
                                                        meta['params']))
  grads = jax.tree.map(np.ones_like, meta)
  updates, _ = optimizer.update(grads, optimizer.init(meta), meta)
  for leaf in jax.tree.leaves(updates['params']):
    np.testing.assert_allclose(leaf, -1e-3, rtol=1e-4)  # Adam's first step: the learning rate
  for leaf in jax.tree.leaves(updates['lrs']):
    np.testing.assert_allclose(leaf, -1e-6, rtol=1e-4)

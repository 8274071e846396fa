"""Few-shot forecasting on daily stock prices: a task is one ticker over one window of days.

The prices are the S&P 500 daily closes of ``sp500_5yr_daily.csv.gz`` (505 tickers,
2013-02-08..2018-02-07; columns ``date, open, high, low, close, volume, Name``), read from
``$METAFT_DATA_DIR/finance/`` and verified against ``SHA256SUMS`` there. Tickers without a
positive, finite close on every one of the file's dates are dropped (the file has a few NaN
prices and tickers listed for part of the period), leaving 470.

A task is one ticker and a window of consecutive trading days. Its examples are the sliding
windows of ``lags`` past daily values (inputs) and the next day's value (target), where a
value is the day's log return in percent (``target='return'``) or its absolute value
(``target='volatility'``, which past values predict: volatility clusters). The support set is
the window's first ``shots`` examples and the query set the ``query`` examples after them, so a
task forecasts forward in time and never sees its query days.

Splits are disjoint in tickers and in time: a fixed seeded permutation (``SPLIT_SEED``) puts
80% of the tickers in meta-training and the rest in meta-test; meta-training tasks lie in the
first 80% of the days and meta-test tasks in the last 20% (about a year). A meta-validation
split (for model selection) is carved out of meta-training, never the meta-test tickers or
days: ``val_tickers=V`` keeps V meta-training tickers apart (new tickers), ``val_days=D`` the
last D meta-training days (later days, as the meta-test days are later), and both together
keep V tickers over the last D days, apart in tickers and in time as meta-test is.
"""

import csv
import functools
import gzip
import math
import os
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metaft import core, losses
from metaft.data.local import ENV_VAR, candidates, verify
from metaft.errors import UserError

FILE = 'sp500_5yr_daily.csv.gz'
SPLIT_SEED = 0  # np.random.default_rng(SPLIT_SEED).permutation of the kept tickers.
TRAIN_FRACTION = 0.8
SPLITS = ('train', 'val', 'test')
TARGETS = ('return', 'volatility')


class Prices(NamedTuple):
  """Daily closes, one row per ticker: ``close[ticker, day]``, all positive and finite."""

  close: np.ndarray
  tickers: tuple[str, ...]
  dates: tuple[str, ...]


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
  """The ``finance/`` folder, from ``data_dir``, ``$METAFT_DATA_DIR`` or ``../shared/data``."""
  looked = candidates(data_dir)
  for base in looked:
    for folder in (base / 'finance', base):
      if (folder / FILE).is_file():
        return folder.resolve()
  places = ', '.join(str(p) for p in looked)
  raise UserError(
      f'stock prices not found (looked for finance/{FILE} in: {places}). The file is the '
      'S&P 500 five-year daily prices (github.com/CNuge/kaggle-code, MIT); put it in '
      f'<DIR>/finance/ and set {ENV_VAR}=<DIR> (or pass data_dir=<DIR>).')


@functools.lru_cache(maxsize=None)
def _load(folder: Path) -> Prices:
  path = folder / FILE
  verify(path)
  rows: dict[str, dict[str, float]] = {}
  with gzip.open(path, 'rt', newline='') as f:
    for row in csv.DictReader(f):
      try:
        close = float(row['close'])
      except ValueError:  # an empty field
        close = math.nan
      rows.setdefault(row['Name'], {})[row['date']] = close
  dates = sorted({d for by_date in rows.values() for d in by_date})
  kept = sorted(t for t, by_date in rows.items()
                if len(by_date) == len(dates) and all(v > 0 for v in by_date.values()))
  close = np.array([[rows[t][d] for d in dates] for t in kept], np.float64)
  close.setflags(write=False)
  return Prices(close, tuple(kept), tuple(dates))


def load_prices(data_dir: str | os.PathLike | None = None) -> Prices:
  """The tickers with a positive, finite close on every date (cached; read-only)."""
  return _load(find_data_dir(data_dir))


def split_returns(prices: Prices, split: str, val_tickers: int = 0, val_days: int = 0
                  ) -> tuple[np.ndarray, tuple[str, ...]]:
  """Daily log returns in percent, ``[tickers, days - 1]``, of one split's tickers and days.

  ``'val'`` holds ``val_tickers`` of the meta-training tickers (all of them when 0) over the
  last ``val_days`` meta-training days (all of them when 0); ``'train'`` loses them both."""
  if split not in SPLITS:
    raise UserError(f'split must be one of {SPLITS}, got {split!r}.')
  order = np.random.default_rng(SPLIT_SEED).permutation(len(prices.tickers))
  num_train = int(round(TRAIN_FRACTION * len(order)))
  first_test_day = int(round(TRAIN_FRACTION * (prices.close.shape[1] - 1)))
  for name, value, total, what in (('val_tickers', val_tickers, num_train, 'tickers'),
                                   ('val_days', val_days, first_test_day, 'days')):
    if not isinstance(value, (int, np.integer)) or not 0 <= value < total:
      raise UserError(f'{name} must be an integer from 0 to {total - 1} (of the {total} '
                      f'meta-training {what}), got {value!r}.')
  if split == 'val' and not (val_tickers or val_days):
    raise UserError('the stocks tasks have no meta-validation split: set val_tickers or '
                    'val_days (e.g. val_tickers=40 keeps 40 meta-training tickers apart, '
                    'val_days=120 the last 120 meta-training days; --config.task.val_tickers=40 '
                    'in an experiment).')
  cut, last = num_train - val_tickers, first_test_day - val_days  # train | val | test
  rows = {'train': order[:cut], 'val': order[cut:num_train] if val_tickers else order[:cut],
          'test': order[num_train:]}[split]
  days = {'train': slice(None, last), 'val': slice(last if val_days else None, first_test_day),
          'test': slice(first_test_day, None)}[split]
  rows = np.sort(rows)
  returns = 100 * np.diff(np.log(prices.close[rows]), axis=1)
  return returns[:, days].astype(np.float32), tuple(prices.tickers[i] for i in rows)


def stocks(
    *,
    lags: int = 10,
    shots: int = 20,
    query: int = 5,
    target: str = 'volatility',
    split: str = 'train',
    val_tickers: int = 0,
    val_days: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> core.TaskFamily:
  """Few-shot forecasting of one ticker's next-day return or volatility from its past days.

  Args:
    lags: past days per input.
    shots: support examples (consecutive days) per task.
    query: query examples per task, the days right after the support set's.
    target: ``'volatility'`` (absolute log return in percent) or ``'return'`` (log return in
      percent); inputs are the same quantity on the ``lags`` days before.
    split: ``'train'``, ``'val'`` (with ``val_tickers`` or ``val_days``) or ``'test'``
      (disjoint tickers, and the test split's later days).
    val_tickers: meta-training tickers kept apart (a seeded choice) as the ``'val'`` split;
      0 (the default) leaves every split as it was.
    val_days: the last meta-training days kept apart as the ``'val'`` split's days (with
      ``val_tickers=0``: of every meta-training ticker); 0 (the default): none.
    data_dir: a folder containing ``finance/``; default ``$METAFT_DATA_DIR`` or
      ``../shared/data``.

  Returns:
    A ``TaskFamily`` whose tasks hold support ``x`` ``[shots, lags]``, ``y`` ``[shots, 1]`` and
    query ``[query, lags]``, ``[query, 1]``, float32, scored by MSE in percent squared.

  Example:
    >>> family = stocks(shots=20, split='test')
    >>> tasks = family.draw(32, key=jax.random.key(0))
  """
  for name, value in (('lags', lags), ('shots', shots), ('query', query)):
    if not isinstance(value, (int, np.integer)) or value < 1:
      raise UserError(f'stocks needs an integer {name} >= 1, got {name}={value!r}.')
  if target not in TARGETS:
    raise UserError(f'target must be one of {TARGETS}, got {target!r}.')
  returns_SxD, _ = split_returns(load_prices(data_dir), split, val_tickers, val_days)
  if not len(returns_SxD):
    raise UserError(f'the {split!r} split has no tickers (the file keeps too few for a '
                    f'{TRAIN_FRACTION:.0%} / {1 - TRAIN_FRACTION:.0%} split).')
  values_SxD = np.abs(returns_SxD) if target == 'volatility' else returns_SxD
  window = lags + shots + query
  num_days = values_SxD.shape[1]
  if window > num_days:
    raise UserError(f'a task spans lags + shots + query = {window} days, more than the '
                    f'{num_days} days of the {split!r} split; shorten the window.')

  def sample_task(values_SxD, key):
    k_ticker, k_start = jax.random.split(key)
    ticker = jax.random.randint(k_ticker, (), 0, values_SxD.shape[0])
    start = jax.random.randint(k_start, (), 0, num_days - window + 1)
    days_W = jax.lax.dynamic_slice(values_SxD[ticker], (start,), (window,))
    # Example i: inputs days i..i+lags-1, target day i+lags.
    x_ExL = days_W[jnp.arange(shots + query)[:, None] + jnp.arange(lags)[None, :]]
    y_Ex1 = days_W[lags:, None]
    return core.Task(core.Split(x_ExL[:shots], y_Ex1[:shots]),
                     core.Split(x_ExL[shots:], y_Ex1[shots:]))

  def sample(values_SxD, num_tasks, *, key):
    keys = jax.random.split(key, num_tasks)
    return jax.vmap(sample_task, in_axes=(None, 0))(values_SxD, keys)

  info = {'dataset': f'stocks-{target}', 'ways': None, 'shots': shots}
  return core.TaskFamily(sample, losses.mse, losses.regression_metrics, 'mse', 1, info,
                         jnp.asarray(values_SxD))

"""Tasks as files: one task's support and query arrays in an ``.npz``, for users' own data."""

import pathlib

import numpy as np

from metaft import core
from metaft.errors import UserError

KEYS = ('support_x', 'support_y', 'query_x', 'query_y')


def save_task(path: str | pathlib.Path, task: core.Task) -> None:
  """Writes one task (no leading task axis) as ``support_x, support_y, query_x, query_y``."""
  np.savez(path, support_x=np.asarray(task.support.x), support_y=np.asarray(task.support.y),
           query_x=np.asarray(task.query.x), query_y=np.asarray(task.query.y))


def load_task(path: str | pathlib.Path) -> tuple[core.Task, bool]:
  """One task from an ``.npz`` with ``support_x``, ``support_y``, ``query_x`` and optionally
  ``query_y`` (examples on the leading axis; inputs as the model takes them, e.g. NHWC
  float32 for Conv-4; integer labels for classification, float targets for regression).

  Returns:
    The task (``query.y`` zeros when the file has none) and whether it has query labels.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise UserError(f'task file {path} does not exist; write one with '
                    'numpy.savez(path, support_x=..., support_y=..., query_x=..., query_y=...).')
  with np.load(path) as data:
    arrays = dict(data)
  missing = [k for k in KEYS[:3] if k not in arrays]
  if missing:
    raise UserError(f'task file {path} lacks {", ".join(missing)}; it has '
                    f'{", ".join(sorted(arrays)) or "no arrays"} (needs {", ".join(KEYS)}, '
                    'query_y optional).')
  for split in ('support', 'query'):
    x, y = arrays[f'{split}_x'], arrays.get(f'{split}_y')
    if y is not None and len(x) != len(y):
      raise UserError(f'task file {path}: {split}_x has {len(x)} examples but {split}_y '
                      f'has {len(y)}.')
  has_query_y = 'query_y' in arrays
  support_y = arrays['support_y']
  query_y = arrays['query_y'] if has_query_y else np.zeros(
      (len(arrays['query_x']),) + support_y.shape[1:], support_y.dtype)
  cast = lambda y: y.astype(np.int32) if np.issubdtype(y.dtype, np.integer) else y.astype(np.float32)
  task = core.Task(core.Split(arrays['support_x'].astype(np.float32), cast(support_y)),
                   core.Split(arrays['query_x'].astype(np.float32), cast(query_y)))
  return task, has_query_y

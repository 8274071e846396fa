"""Where local data sets live (`$METAFT_DATA_DIR`, else `../shared/data`) and their checksums."""

import functools
import hashlib
import os
from pathlib import Path

import metaft
from metaft.errors import UserError

ENV_VAR = 'METAFT_DATA_DIR'


def candidates(data_dir) -> list[Path]:
  """The data folders to try, in order: ``data_dir``, else the env var, else the defaults."""
  if data_dir is not None:
    return [Path(data_dir)]
  if os.environ.get(ENV_VAR):
    return [Path(os.environ[ENV_VAR])]
  return [Path(metaft.__file__).resolve().parents[2] / 'shared' / 'data',
          Path.cwd() / '..' / 'shared' / 'data']


@functools.lru_cache(maxsize=None)
def _expected_sums(folder: Path) -> dict:
  sums_file = folder / 'SHA256SUMS'
  if not sums_file.is_file():
    return {}
  sums = {}
  for line in sums_file.read_text().splitlines():
    if line.strip():
      digest, name = line.split(maxsplit=1)
      sums[name.lstrip('*').strip()] = digest.lower()
  return sums


def verify(path: Path) -> None:
  """Checks ``path`` against ``SHA256SUMS`` beside it, when it is listed there."""
  expected = _expected_sums(path.parent).get(path.name)
  if expected is None:
    return
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  if digest.hexdigest() != expected:
    raise UserError(
        f'{path} does not match its SHA256SUMS entry (expected {expected}, got '
        f'{digest.hexdigest()}): the file is corrupt or a different version. Download it again '
        'or remove the stale SHA256SUMS line.')

"""Omniglot few-shot classification (Lake et al. 2015), sampled on the device.

The data are read from ``$METAFT_DATA_DIR/omniglot/`` in either form a user may have: the
arrays ``omniglot_{background,evaluation}.npz`` (uint8 ``[chars, 20, 28, 28]``) or the official
105x105 PNGs, ``images_{background,evaluation}/<Alphabet>/characterNN/XXXX_YY.png``, unzipped
or as the zip files themselves. PNGs are area-averaged to 28x28 with PIL's ``BOX`` filter,
which reproduces the npz arrays exactly. Files listed in ``SHA256SUMS`` are verified.

Two protocols:
  * ``'vinyals'`` (Vinyals et al. 2016; Finn et al. 2017): all 1623 characters pooled, split by
    a fixed seeded permutation (``VINYALS_SEED``) into 1200 meta-training and 423 meta-test
    characters, each rotated by 0/90/180/270 degrees into 4 classes: 4800 and 1692 classes.
  * ``'lake'`` (Lake et al. 2015): background (964 characters) for meta-training, evaluation
    (659 characters) for meta-testing, without rotations unless asked for.

Neither has a meta-validation split; ``val_chars=V`` makes one of V of the meta-training
characters (a seeded choice; meta-training keeps the rest), e.g. 1100/100/423 for vinyals.
"""

import functools
import io
import os
import re
import zipfile
from pathlib import Path
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from metaft import core
from metaft.data import episodes
from metaft.data.local import ENV_VAR, candidates as _candidates, verify as _verify
from metaft.errors import UserError

VINYALS_SEED = 1  # np.random.default_rng(VINYALS_SEED).permutation of the 1623 character ids.
VINYALS_TRAIN_CHARS = 1200
PROTOCOLS = ('vinyals', 'lake')
SPLITS = ('train', 'val', 'test')
SOURCES = ('npz', 'folder', 'zip')
DRAWINGS = 20
SIZE = 28
_PARTS = {'background': (1, 964), 'evaluation': (965, 1623)}  # char_id ranges, inclusive.
_PNG_NAME = re.compile(r'(?:^|/)images_(background|evaluation)/[^/]+/[^/]+/(\d{4})_(\d{2})\.png$')


class OmniglotSplit(NamedTuple):
  """The classes of one split: ``images[c, d]`` is drawing ``d`` of class ``c``.

  Attributes:
    images: uint8 ``[classes, 20, 28, 28]``, upstream pixels (255 background, 0 ink).
    char_id: int ``[classes]``, the character (1..1623, the ``XXXX`` of the PNG file names).
    rotation: int ``[classes]``, quarter turns counter-clockwise (``np.rot90`` ``k``).
  """

  images: np.ndarray
  char_id: np.ndarray
  rotation: np.ndarray


def _missing_message(looked: list[Path]) -> str:
  places = ', '.join(str(p) for p in looked) or '(no candidate folder)'
  return (
      f'Omniglot data not found (looked for omniglot/ in: {places}). Get it from the official '
      'release https://github.com/brendenlake/omniglot (python/images_background.zip and '
      "python/images_evaluation.zip) or the tensorflow-datasets catalogue 'omniglot' (which "
      'downloads the same two zips); put the zips, the folders they unzip to, or '
      'omniglot_{background,evaluation}.npz in <DIR>/omniglot/ and set '
      f'{ENV_VAR}=<DIR> (or pass data_dir=<DIR>).')


def _has_part(folder: Path, part: str) -> bool:
  return any((folder / name).exists() for name in
             (f'omniglot_{part}.npz', f'images_{part}', f'images_{part}.zip'))


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
  """The ``omniglot/`` folder, from ``data_dir``, ``$METAFT_DATA_DIR`` or the defaults.

  ``data_dir`` (like the env var) is a folder containing ``omniglot/``; the ``omniglot/`` folder
  itself is accepted too. Raises ``UserError`` saying where to get the data when it is missing.
  """
  looked = _candidates(data_dir)
  for base in looked:
    for folder in (base / 'omniglot', base):
      if all(_has_part(folder, part) for part in _PARTS):
        return folder.resolve()
  raise UserError(_missing_message(looked))


def _png_to_28(data: bytes) -> np.ndarray:
  """A 105x105 1-bit PNG as uint8 28x28, area-averaged (PIL ``BOX``)."""
  from PIL import Image  # pillow comes with matplotlib.
  with Image.open(io.BytesIO(data)) as image:
    return np.asarray(image.convert('L').resize((SIZE, SIZE), Image.BOX), dtype=np.uint8)


def _read_pngs(path: Path, *, char_ids=None) -> tuple[np.ndarray, np.ndarray]:
  """Reads a PNG tree (a folder or a zip) into ``(images_Cx20x28x28, char_id_C)`` by char id.

  ``char_ids``, when given, restricts the read to those characters.
  """
  wanted = None if char_ids is None else {int(c) for c in char_ids}
  files = {}  # (char_id, drawing) -> name
  if path.suffix == '.zip':
    archive = zipfile.ZipFile(path)
    names, root = archive.namelist(), None
  else:
    archive, root = None, path.parent
    names = [p.relative_to(root).as_posix() for p in path.rglob('*.png')]
  for name in names:
    match = _PNG_NAME.search(name)
    if match and (wanted is None or int(match[2]) in wanted):
      files[int(match[2]), int(match[3]) - 1] = name
  ids = np.array(sorted({c for c, _ in files}), dtype=np.int64)
  images = np.zeros((len(ids), DRAWINGS, SIZE, SIZE), np.uint8)
  try:
    for i, c in enumerate(ids):
      for d in range(DRAWINGS):
        if (c, d) not in files:
          raise UserError(f'{path}: character {c:04d} lacks drawing {c:04d}_{d + 1:02d}.png; '
                          f'every character needs {DRAWINGS} drawings.')
        name = files[c, d]
        data = archive.read(name) if archive else (root / name).read_bytes()
        images[i, d] = _png_to_28(data)
  finally:
    if archive:
      archive.close()
  return images, ids


@functools.lru_cache(maxsize=None)
def _load_part(folder: Path, part: str, source: str | None) -> tuple[np.ndarray, np.ndarray]:
  """One upstream split (``'background'``/``'evaluation'``) as read-only ``(images, char_id)``."""
  paths = {'npz': folder / f'omniglot_{part}.npz',
           'folder': folder / f'images_{part}',
           'zip': folder / f'images_{part}.zip'}
  if source is None:
    source = next((s for s in SOURCES if paths[s].exists()), None)
    if source is None:
      raise UserError(_missing_message([folder]))
  path = paths[source]
  if not path.exists():
    raise UserError(f'{path} not found (source={source!r}). ' + _missing_message([folder]))
  if source == 'npz':
    _verify(path)
    with np.load(path) as arrays:
      images, ids = arrays['images'], arrays['char_id'].astype(np.int64)
    order = np.argsort(ids, kind='stable')
    images, ids = images[order], ids[order]
  else:
    if source == 'zip':
      _verify(path)
    images, ids = _read_pngs(path)
  lo, hi = _PARTS[part]
  if images.shape[1:] != (DRAWINGS, SIZE, SIZE) or images.dtype != np.uint8:
    raise UserError(f'{path}: expected uint8 images [chars, {DRAWINGS}, {SIZE}, {SIZE}], got '
                    f'{images.dtype} {list(images.shape)}.')
  if not np.array_equal(ids, np.arange(lo, hi + 1)):
    raise UserError(f'{path}: expected the {hi - lo + 1} characters {lo}..{hi} of the {part} '
                    f'set, found {len(ids)}; the copy is incomplete.')
  images.setflags(write=False)
  ids.setflags(write=False)
  return images, ids


def _check_choice(name, value, allowed):
  if value not in allowed:
    raise UserError(f'{name} must be one of {allowed}, got {value!r}.')


@functools.lru_cache(maxsize=8)
def _load_split(folder: Path, split: str, protocol: str, rotate: bool,
                source: str | None, val_chars: int = 0) -> OmniglotSplit:
  parts = [_load_part(folder, part, source) for part in _PARTS]
  if protocol == 'lake':
    images, ids = parts[1] if split == 'test' else parts[0]
    train_chars = len(ids) if split != 'test' else 0  # lake's test split is all of its part
  else:
    images = np.concatenate([p[0] for p in parts])
    ids = np.concatenate([p[1] for p in parts])
    train_chars = VINYALS_TRAIN_CHARS
  perm = np.random.default_rng(VINYALS_SEED).permutation(len(ids))
  cut = train_chars - val_chars  # meta-training | meta-validation | meta-test
  chosen = {'train': perm[:cut], 'val': perm[cut:train_chars], 'test': perm[train_chars:]}[split]
  chosen = np.sort(chosen)
  images, ids = images[chosen], ids[chosen]
  if rotate:  # Class 4 c + k is character c turned by k quarter turns.
    images = np.stack([np.rot90(images, k, axes=(-2, -1)) for k in range(4)], axis=1)
    images = images.reshape(-1, DRAWINGS, SIZE, SIZE)
    rotation = np.tile(np.arange(4), len(ids))
    ids = np.repeat(ids, 4)
  else:
    rotation = np.zeros(len(ids), np.int64)
  for array in (images, ids, rotation):
    array.setflags(write=False)
  return OmniglotSplit(images, ids, rotation)


def load_split(
    split: str = 'train',
    protocol: str = 'vinyals',
    *,
    rotate: bool | None = None,
    data_dir: str | os.PathLike | None = None,
    source: str | None = None,
    val_chars: int = 0,
) -> OmniglotSplit:
  """The classes of one Omniglot split as numpy arrays (cached; read-only).

  Args:
    split: ``'train'`` (meta-training), ``'val'`` (meta-validation, with ``val_chars``) or
      ``'test'`` (meta-test).
    protocol: ``'vinyals'`` (1200/423 seeded split of all characters) or ``'lake'``
      (background/evaluation).
    rotate: make 4 classes of each character (0/90/180/270 degrees); ``None`` means True for
      ``'vinyals'`` and False for ``'lake'``.
    data_dir: a folder containing ``omniglot/``; default ``$METAFT_DATA_DIR``, else
      ``../shared/data`` beside the repository or the working directory.
    source: ``'npz'``, ``'folder'`` or ``'zip'``; default: the first of these that exists.
    val_chars: meta-training characters set aside (a seeded choice) as the ``'val'`` split;
      0 (the default) leaves meta-training as the protocol has it, and no ``'val'`` split.

  Returns:
    An ``OmniglotSplit``: 4800/1692 classes (vinyals) or 964/659 (lake), ordered by character
    id, the 4 rotations of a character next to each other.
  """
  _check_choice('split', split, SPLITS)
  _check_choice('protocol', protocol, PROTOCOLS)
  if source is not None:
    _check_choice('source', source, SOURCES)
  rotate = protocol == 'vinyals' if rotate is None else bool(rotate)
  train_chars = VINYALS_TRAIN_CHARS if protocol == 'vinyals' else _PARTS['background'][1]
  if not isinstance(val_chars, int) or not 0 <= val_chars < train_chars:
    raise UserError(f'val_chars must be an integer from 0 to {train_chars - 1} (of the '
                    f'{train_chars} meta-training characters of protocol {protocol!r}), got '
                    f'{val_chars!r}.')
  if split == 'val' and not val_chars:
    raise UserError(f'Omniglot\'s {protocol!r} protocol has no meta-validation split: set '
                    'val_chars (e.g. val_chars=100 keeps 100 meta-training characters apart for '
                    'validation; --config.task.val_chars=100 in an experiment).')
  return _load_split(find_data_dir(data_dir), split, protocol, rotate, source, val_chars)


def omniglot(
    *,
    ways: int = 5,
    shots: int = 1,
    query: int = 15,
    split: str = 'train',
    protocol: str = 'vinyals',
    rotate: bool | None = None,
    data_dir: str | os.PathLike | None = None,
    classes: int | None = None,
    labels: str = 'task',
    shift: int = 0,
    degrees: float = 0.0,
    label_smoothing: float = 0.0,
    val_chars: int = 0,
) -> core.TaskFamily:
  """N-way K-shot Omniglot classification (Vinyals et al. 2016; Finn et al. 2017).

  Each task draws ``ways`` classes without replacement and ``shots + query`` drawings of each
  without replacement; the classes get the labels ``0..ways-1`` in a random order. Inputs are
  float32 ``1 - pixel / 255`` (ink 1, background 0), NHWC. The class pool stays on the device
  as uint8, with rotations precomputed (a gather is cheaper than rotating on the fly, which
  under ``vmap`` would compute all four rotations of every drawn image and select one); tasks
  are drawn by ``episodes.episodes``, the sampler every image data set shares.

  Args:
    ways: N, classes per task.
    shots: K, support examples per class.
    query: query examples per class.
    split: ``'train'``, ``'val'`` (with ``val_chars``) or ``'test'`` (disjoint characters).
    protocol: ``'vinyals'`` or ``'lake'``, see ``load_split``.
    rotate: rotations as extra classes; default True for vinyals, False for lake.
    data_dir: a folder containing ``omniglot/``; default ``$METAFT_DATA_DIR`` or
      ``../shared/data``.
    classes: use only the first ``classes`` classes of the split (smoke tests).
    labels: ``'task'`` (``0..ways-1`` in a random order, the episodic protocol) or
      ``'global'`` (each class's index in the split, ``0..classes-1``: batches for ordinary
      supervised pretraining over all classes; the family's ``num_outputs`` is then the
      number of classes).
    shift, degrees: augmentation of the train split (``augment.shift_and_rotate``): each
      image rotated by up to ``degrees`` and translated by up to ``shift`` pixels, its own
      draw; the val and test splits are never augmented. 0 and 0 (the default) leave the
      train split's tasks exactly as without these settings.
    label_smoothing: train on labels smoothed by this much, see ``episodes.episodes``.
    val_chars: meta-training characters kept apart as the ``'val'`` split, see ``load_split``.

  Returns:
    A ``TaskFamily`` whose tasks hold support ``x`` ``[N*K, 28, 28, 1]`` float32, ``y`` int32
    ``[N*K]`` (grouped by label) and query ``[N*Q, 28, 28, 1]``, ``[N*Q]``.

  Example:
    >>> family = omniglot(ways=20, shots=1)
    >>> tasks = family.draw(32, key=jax.random.key(0))
  """
  episodes.check_task_shape(ways, shots, query)
  if shots + query > DRAWINGS:
    raise UserError(f'omniglot has {DRAWINGS} drawings per class, so shots + query must be '
                    f'<= {DRAWINGS}; got shots={shots} + query={query} = {shots + query}.')
  episodes.check_augmentation(shift, degrees, SIZE)
  pool = load_split(split, protocol, rotate=rotate, data_dir=data_dir, val_chars=val_chars)
  total = len(pool.char_id)
  if classes is not None and not 1 <= classes <= total:
    raise UserError(f'classes must be between 1 and {total} (the {split} split of protocol '
                    f'{protocol!r}), got classes={classes}.')
  num_classes = total if classes is None else int(classes)
  if ways > num_classes:
    raise UserError(f'ways={ways} is more than the {num_classes} classes available '
                    f'(split={split!r}, protocol={protocol!r}, classes={classes}); '
                    f'use ways <= {num_classes}.')
  images = pool.images[:num_classes]
  train = split == 'train'  # the val and test splits are never augmented
  return episodes.episodes(
      episodes.ClassPool(images, np.full(num_classes, DRAWINGS)), ways=ways, shots=shots,
      query=query, decode=_ink, info={'dataset': 'omniglot'}, labels=labels,
      shift=shift if train else 0, degrees=degrees if train else 0.0,
      label_smoothing=label_smoothing)


def _ink(pixels):
  """uint8 pixels to float32 ink ``[..., 1]``: exact in and out of jit, 0 -> 1.0 and 255 -> 0.0
  (255 * float32(1/255) rounds to 1)."""
  return ((255 - pixels).astype(jnp.float32) * np.float32(1 / 255))[..., None]

"""Any image classification data set of the tensorflow-datasets catalogue as N-way K-shot tasks.

``tfds_images(dataset='cifar100', ways=5, shots=1)`` reads every example of the data set once
(all its tfds splits by default), groups them by label and splits the classes, not the
examples, into meta-training, validation and meta-test classes by a seeded permutation (64 /
16 / 20 percent by default, mini-ImageNet's proportions). Tasks are then drawn on the device
like Omniglot's (``metaft.data.episodes``). Inputs are float32 ``pixel / 255``, NHWC.

tensorflow-datasets is optional: ``pip install 'metaft[tfds]'`` installs it and TensorFlow,
which it needs to read its files. The first use of a data set downloads and prepares it under
``data_dir`` (default ``~/tensorflow_datasets``); with ``download=False`` it must be there.
"""

import functools

import jax.numpy as jnp
import numpy as np

from metaft import core
from metaft.data import episodes
from metaft.errors import UserError

SPLITS = ('train', 'val', 'test')
INSTALL = "pip install 'metaft[tfds]'"


def _import_tfds():
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise UserError(f'tfds_images needs tensorflow-datasets and TensorFlow ({e}); install them '
                    f'with {INSTALL}.') from None
  try:  # TensorFlow only reads files here: keep it off the accelerators JAX uses.
    import tensorflow as tf
    tf.config.set_visible_devices([], 'GPU')
  except (ImportError, RuntimeError):  # tfds.load says so without TensorFlow; or set up already
    pass
  return tfds


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  from PIL import Image  # pillow comes with matplotlib.
  channels = image.shape[-1]
  pil = Image.fromarray(image[..., 0] if channels == 1 else image)
  resized = np.asarray(pil.resize(size[::-1], Image.BILINEAR))  # PIL takes (width, height)
  return resized.reshape(size + (channels,))


@functools.lru_cache(maxsize=4)
def load_pool(dataset: str, *, tfds_split: str = 'all', image_key: str = 'image',
              label_key: str = 'label', size: tuple[int, int] | None = None,
              data_dir: str | None = None,
              download: bool = True) -> tuple[episodes.ClassPool, np.ndarray]:
  """``(pool, label_of_class)``: the examples of ``tfds.load(dataset, split=tfds_split)`` as
  uint8 ``[H, W, C]`` images grouped by label (cached; read-only). ``size``, ``(H, W)``, resizes
  every image (bilinear); without it all images must have the same shape."""
  tfds = _import_tfds()
  try:
    examples = tfds.load(dataset, split=tfds_split, data_dir=data_dir, download=download)
  except Exception as e:  # tfds raises its own types for unknown names, splits, missing files.
    raise UserError(f'tensorflow-datasets could not load {dataset!r} (split {tfds_split!r}, '
                    f'data_dir {data_dir!r}, download={download}): {type(e).__name__}: {e} '
                    f'(TensorFlow comes with {INSTALL})') from None
  images, labels = [], []
  for example in tfds.as_numpy(examples):
    missing = [k for k in (image_key, label_key) if k not in example]
    if missing:
      raise UserError(f'{dataset!r} examples have no {", ".join(map(repr, missing))} feature; '
                      f'they have {", ".join(map(repr, sorted(example)))}: set image_key and '
                      'label_key.')
    image = np.asarray(example[image_key])
    image = image[..., None] if image.ndim == 2 else image
    if image.ndim != 3 or image.dtype != np.uint8:
      raise UserError(f'{dataset!r}: feature {image_key!r} is not an image (uint8 [H, W, C]); '
                      f'got {image.dtype} {list(image.shape)}.')
    if size is not None:
      image = _resize(image, size)
    elif images and image.shape != images[0].shape:
      raise UserError(f'{dataset!r}: images differ in shape ({list(images[0].shape)} and '
                      f'{list(image.shape)}); pass size=(H, W) to resize them.')
    images.append(image)
    labels.append(int(example[label_key]))
  if not images:
    raise UserError(f'{dataset!r} split {tfds_split!r} has no examples.')
  pool, label_of_class = episodes.group_by_class(np.stack(images), np.array(labels))
  for array in (*pool, label_of_class):
    array.setflags(write=False)
  return pool, label_of_class


def split_classes(num_classes: int, fractions, seed: int) -> dict[str, np.ndarray]:
  """The sorted class indices of each of ``SPLITS``: a seeded permutation cut by
  ``fractions`` (train, val, test; they must sum to 1)."""
  fractions = tuple(float(f) for f in fractions)
  if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
    raise UserError(f'fractions must be three non-negative class fractions (train, val, test) '
                    f'summing to 1, got {fractions}.')
  perm = np.random.default_rng(seed).permutation(num_classes)
  cuts = np.rint(np.cumsum(fractions[:2]) * num_classes).astype(int)
  return {name: np.sort(part) for name, part in zip(SPLITS, np.split(perm, cuts))}


def _decode(pixels):
  return pixels.astype(jnp.float32) * np.float32(1 / 255)


def tfds_images(
    *,
    dataset: str,
    ways: int = 5,
    shots: int = 1,
    query: int = 15,
    split: str = 'train',
    fractions: tuple[float, float, float] = (0.64, 0.16, 0.20),
    seed: int = 0,
    tfds_split: str = 'all',
    image_key: str = 'image',
    label_key: str = 'label',
    size: int | tuple[int, int] | None = None,
    data_dir: str | None = None,
    download: bool = True,
    classes: int | None = None,
    labels: str = 'task',
    shift: int = 0,
    degrees: float = 0.0,
    flip: bool = False,
    label_smoothing: float = 0.0,
) -> core.TaskFamily:
  """N-way K-shot tasks over the classes of a tensorflow-datasets image data set.

  Args:
    dataset: a catalogue name, e.g. ``'cifar100'``, ``'omniglot'``, ``'emnist/letters'``.
    ways, shots, query: N, K and query examples per class; only classes with at least
      ``shots + query`` examples are drawn.
    split: ``'train'``, ``'val'`` or ``'test'``: which part of the classes (see ``fractions``).
    fractions: the share of classes in train, val and test; ``seed`` permutes the classes.
    tfds_split: the tfds examples to read, ``'all'`` by default (classes, not examples, separate
      meta-training from meta-test); any tfds split string, e.g. ``'train'``.
    image_key, label_key: the features holding the image and its integer class.
    size: resize every image to ``size`` x ``size`` (or ``(H, W)``); needed when image shapes
      differ.
    data_dir, download: where tfds keeps its files, and whether it may download them.
    classes: use only the first ``classes`` classes of the split (smoke tests).
    labels: ``'task'`` (``0..ways-1`` in a random order) or ``'global'`` (each class's index in
      the split, for supervised pretraining).
    shift, degrees, flip: augmentation of the train split (pixel shifts, rotations, mirror
      images), see ``episodes.episodes``.
    label_smoothing: train on labels smoothed by this much, see ``episodes.episodes``.

  Returns:
    A ``TaskFamily`` with support ``[N*K, H, W, C]`` and query ``[N*Q, H, W, C]`` float32 inputs.
  """
  episodes.check_task_shape(ways, shots, query)
  if split not in SPLITS:
    raise UserError(f'split must be one of {SPLITS}, got {split!r}.')
  if size is not None:
    size = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(size) != 2 or min(size) < 1:
      raise UserError(f'size must be a positive int or (H, W), got {size!r}.')
  pool, _ = load_pool(dataset, tfds_split=tfds_split, image_key=image_key, label_key=label_key,
                      size=size, data_dir=data_dir, download=download)
  chosen = split_classes(len(pool.counts), fractions, seed)[split]
  if classes is not None:
    if not 1 <= classes <= len(chosen):
      raise UserError(f'classes must be between 1 and {len(chosen)} (the {split} classes of '
                      f'{dataset!r}), got classes={classes}.')
    chosen = chosen[:classes]
  train = split == 'train'  # only meta-training tasks are augmented
  episodes.check_augmentation(shift, degrees, min(pool.examples.shape[2:4]))
  return episodes.episodes(
      episodes.ClassPool(pool.examples[chosen], pool.counts[chosen]), ways=ways, shots=shots,
      query=query, decode=_decode, info={'dataset': dataset}, labels=labels,
      shift=shift if train else 0, degrees=degrees if train else 0.0, flip=flip and train,
      label_smoothing=label_smoothing)

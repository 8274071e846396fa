"""N-way K-shot episodes from a pool of labelled images, sampled on the device.

One mechanism for every image classification data set: the examples are grouped by class into
a ``ClassPool`` (uint8, padded to the largest class) that stays on the device, and a jitted
sampler draws ``ways`` classes and ``shots + query`` distinct examples of each. Omniglot and
the tensorflow-datasets catalogue (``metaft.data.tfds_images``) both sample through it.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metaft import core, losses
from metaft.data import augment
from metaft.errors import UserError

LABELS = ('task', 'global')


class ClassPool(NamedTuple):
  """Labelled examples grouped by class.

  Attributes:
    examples: ``[classes, M, ...]``: row ``m < counts[c]`` of class ``c`` is one of its
      examples; the rows after it are padding, never drawn.
    counts: int ``[classes]``, how many examples each class has.
  """

  examples: np.ndarray
  counts: np.ndarray


def group_by_class(examples: np.ndarray, labels: np.ndarray) -> tuple[ClassPool, np.ndarray]:
  """``(pool, label_of_class)``: the examples of each distinct label, in sorted label order,
  each class's examples in their original order; padding rows are zeros."""
  examples, labels = np.asarray(examples), np.asarray(labels)
  if labels.ndim != 1 or len(labels) != len(examples):
    raise UserError(f'need one integer label per example; got {len(examples)} examples and '
                    f'labels of shape {labels.shape}.')
  label_of_class, class_of_example, counts = np.unique(
      labels, return_inverse=True, return_counts=True)
  order = np.argsort(class_of_example, kind='stable')
  row = np.arange(len(labels)) - np.repeat(np.cumsum(counts) - counts, counts)
  pooled = np.zeros((len(counts), counts.max(initial=0)) + examples.shape[1:], examples.dtype)
  pooled[class_of_example[order], row] = examples[order]
  return ClassPool(pooled, counts.astype(np.int64)), label_of_class


def check_task_shape(ways, shots, query) -> None:
  for name, value in (('ways', ways), ('shots', shots), ('query', query)):
    if not isinstance(value, (int, np.integer)) or value < 1:
      raise UserError(f'episodes need an integer {name} >= 1, got {name}={value!r}.')


def check_augmentation(shift, degrees, size: int) -> None:
  if not isinstance(shift, (int, np.integer)) or not 0 <= shift < size // 2:
    raise UserError(f'shift must be an integer number of pixels in [0, {size // 2}), got '
                    f'shift={shift!r}.')
  if not isinstance(degrees, (int, float, np.number)) or not 0 <= degrees <= 180:
    raise UserError(f'degrees must be in [0, 180], got degrees={degrees!r}.')


def episodes(
    pool: ClassPool,
    *,
    ways: int,
    shots: int,
    query: int,
    decode: Callable[[jax.Array], jax.Array],
    info: dict,
    labels: str = 'task',
    shift: int = 0,
    degrees: float = 0.0,
    flip: bool = False,
    label_smoothing: float = 0.0,
) -> core.TaskFamily:
  """The family of N-way K-shot tasks drawn from ``pool``.

  Each task draws ``ways`` classes without replacement among those with at least
  ``shots + query`` examples, and ``shots + query`` distinct examples of each; the classes get
  the labels ``0..ways-1`` in a random order (``labels='task'``) or their index among the
  pool's classes that have enough examples (``'global'``, for ordinary supervised batches over
  all classes). Classes are padded to the largest, so a pool of very unequal classes costs
  that much more device memory.

  Args:
    pool: the classes, see ``ClassPool``; it goes to the device as it is (keep it uint8).
    ways, shots, query: N, K and the query examples per class.
    decode: ``decode(examples[N, M, ...]) -> float32 [N, M, H, W, C]``, the model inputs.
    info: descriptive fields for results rows (``dataset``, ...); ways and shots are added.
    labels: ``'task'`` or ``'global'``.
    shift, degrees, flip: each decoded image of a task translated by up to ``shift`` pixels,
      rotated by up to ``degrees`` and (``flip``) mirrored with probability 1/2, its own draw
      (``augment.shift_and_rotate``); 0, 0 and False leave the tasks exactly as without them.
    label_smoothing: the family's loss (what learners minimise) is the cross-entropy against
      labels smoothed by this much (``losses.cross_entropy``); the metrics stay plain.

  Returns:
    A ``TaskFamily`` whose tasks hold support ``[N*K, H, W, C]`` float32 inputs with int32
    labels grouped by class, and query ``[N*Q, H, W, C]``.
  """
  check_task_shape(ways, shots, query)
  if labels not in LABELS:
    raise UserError(f'labels must be one of {LABELS}, got {labels!r}.')
  if not isinstance(label_smoothing, (int, float)) or not 0 <= label_smoothing < 1:
    raise UserError(f'label_smoothing must be in [0, 1), got {label_smoothing!r}.')
  per_class = shots + query
  counts = np.asarray(pool.counts)
  rows = pool.examples.shape[1]
  usable = np.flatnonzero(counts >= per_class)
  if len(usable) < ways:
    raise UserError(
        f'{info.get("dataset", "the data set")}: {len(usable)} of its {len(counts)} classes '
        f'have shots + query = {per_class} examples, fewer than ways={ways}; use fewer ways, '
        'shots or query.')
  augmented = shift > 0 or degrees > 0 or bool(flip)
  if len(usable) < len(counts):
    pool = ClassPool(pool.examples[usable], counts[usable])
  ragged = bool((pool.counts < rows).any())
  counts_C = jnp.asarray(pool.counts)  # a few ints; only read when classes differ in size
  num_classes = len(pool.counts)

  def sample_task(examples_CxM, key):
    if augmented:  # split only then, so tasks without augmentation stay as they were
      key, k_augment = jax.random.split(key)
    k_class, k_example = jax.random.split(key)
    # top_k of i.i.d. uniforms is a uniformly random ordered subset: position = label, so
    # labels are assigned in a random order. O(C) per task, cheaper than a full permutation.
    _, class_N = jax.lax.top_k(jax.random.uniform(k_class, (num_classes,)), ways)
    u_NxM = jax.random.uniform(k_example, (ways, rows))
    if ragged:  # padding rows rank below every real example
      u_NxM = jnp.where(jnp.arange(rows)[None, :] < counts_C[class_N][:, None], u_NxM, -1.0)
    _, example_NxK = jax.lax.top_k(u_NxM, per_class)
    x_NxKxHxWxC = decode(examples_CxM[class_N[:, None], example_NxK])
    if augmented:
      x_NxKxHxWxC = augment.shift_and_rotate(
          k_augment, x_NxKxHxWxC.reshape((-1,) + x_NxKxHxWxC.shape[2:]), shift=shift,
          degrees=degrees, flip=bool(flip)).reshape(x_NxKxHxWxC.shape)
    label_N = class_N.astype(jnp.int32) if labels == 'global' else jnp.arange(ways, dtype=jnp.int32)
    y_NxK = jnp.broadcast_to(label_N[:, None], (ways, per_class))
    flat = lambda a: a.reshape((-1,) + a.shape[2:])
    return core.Task(
        core.Split(flat(x_NxKxHxWxC[:, :shots]), flat(y_NxK[:, :shots])),
        core.Split(flat(x_NxKxHxWxC[:, shots:]), flat(y_NxK[:, shots:])))

  def sample(examples_CxM, num_tasks, *, key):
    keys = jax.random.split(key, num_tasks)
    return jax.vmap(sample_task, in_axes=(None, 0))(examples_CxM, keys)

  num_outputs = num_classes if labels == 'global' else ways
  loss = (functools.partial(losses.cross_entropy, label_smoothing=float(label_smoothing))
          if label_smoothing else losses.cross_entropy)
  return core.TaskFamily(
      sample, loss, losses.classification_metrics, 'accuracy', num_outputs,
      {**info, 'ways': ways, 'shots': shots}, jnp.asarray(pool.examples))

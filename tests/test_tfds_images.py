"""The tensorflow-datasets loader and the episodic sampler it shares with Omniglot.

CI has no network and no TensorFlow, so ``tensorflow_datasets`` is replaced by a fake module
with the two functions the loader calls (``load`` and ``as_numpy``); the last test runs the
real library's ``tfds.testing.mock_data`` where tensorflow-datasets is installed.
"""

import importlib
import json
import sys
import types

import chex
import jax
import numpy as np
import pytest

from metaft import config as config_lib, runner
from metaft.data import episodes
from metaft.errors import UserError

ti = importlib.import_module('metaft.data.tfds_images')

NUM_CLASSES = 50


def _examples(num_classes=NUM_CLASSES, side=12, channels=3):
  """Class ``c`` has ``4 + c % 5`` examples; pixel (0, 0) holds the label + 1, pixel (0, 1) the
  example's index in its class + 1, so padding rows (zeros) are recognisable."""
  examples = []
  for c in range(num_classes):
    for i in range(4 + c % 5):
      image = np.full((side, side, channels), 100, np.uint8)
      image[0, 0], image[0, 1] = c + 1, i + 1
      examples.append({'image': image, 'label': np.int64(c), 'id': f'{c}-{i}'})
  order = np.random.default_rng(0).permutation(len(examples))  # the loader must regroup them
  return [examples[i] for i in order]


@pytest.fixture
def fake_tfds(monkeypatch):
  calls = []

  def load(name, *, split, data_dir, download):
    calls.append(dict(name=name, split=split, data_dir=data_dir, download=download))
    if name == 'nosuch':
      raise ValueError('Dataset nosuch not found.')
    return _examples(channels=1 if name == 'gray' else 3)

  module = types.SimpleNamespace(load=load, as_numpy=lambda examples: examples)
  monkeypatch.setitem(sys.modules, 'tensorflow_datasets', module)
  ti.load_pool.cache_clear()
  yield calls
  ti.load_pool.cache_clear()


def _source(x):
  """(label, index in class) of each sampled image, from its marker pixels."""
  pixels = np.rint(np.asarray(x)[:, 0, :2, 0] * 255).astype(int) - 1
  return [tuple(p) for p in pixels]


def test_group_by_class_pads_ragged_classes():
  x = np.arange(7)[:, None] * 10
  pool, label_of_class = episodes.group_by_class(x, np.array([5, 2, 5, 9, 2, 5, 5]))
  np.testing.assert_array_equal(label_of_class, [2, 5, 9])
  np.testing.assert_array_equal(pool.counts, [2, 4, 1])
  np.testing.assert_array_equal(pool.examples[..., 0], [[10, 40, 0, 0], [0, 20, 50, 60],
                                                        [30, 0, 0, 0]])
  with pytest.raises(UserError, match='one integer label per example'):
    episodes.group_by_class(x, np.zeros(6))


def test_classes_are_split_disjointly_by_the_fractions(fake_tfds):
  parts = ti.split_classes(NUM_CLASSES, (0.64, 0.16, 0.20), seed=0)
  assert [len(parts[s]) for s in ti.SPLITS] == [32, 8, 10]
  np.testing.assert_array_equal(np.sort(np.concatenate(list(parts.values()))),
                                np.arange(NUM_CLASSES))
  other = ti.split_classes(NUM_CLASSES, (0.64, 0.16, 0.20), seed=1)
  assert not np.array_equal(parts['test'], other['test'])
  with pytest.raises(UserError, match='summing to 1'):
    ti.split_classes(NUM_CLASSES, (0.5, 0.5, 0.5), seed=0)
  seen = {}
  for split in ti.SPLITS:
    family = ti.tfds_images(dataset='fake', ways=3, shots=1, query=1, split=split)
    task = family.draw(40, key=jax.random.key(0))
    seen[split] = {label for label, _ in _source(task.support.x.reshape(-1, 12, 12, 3))}
    assert seen[split] <= set(parts[split].tolist())  # classes index the sorted labels 0..49
  assert fake_tfds == [dict(name='fake', split='all', data_dir=None, download=True)]  # cached


def test_tasks_keep_classes_apart_and_never_draw_padding(fake_tfds):
  ways, shots, query = 5, 2, 5  # 7 per class: only classes with c % 5 >= 3 have enough
  family = ti.tfds_images(dataset='fake', ways=ways, shots=shots, query=query, fractions=(1, 0, 0))
  assert family.info == {'dataset': 'fake', 'ways': ways, 'shots': shots}
  sample = jax.jit(chex.assert_max_traces(family.sample, n=1), static_argnums=1)
  task = sample(family.data, 30, key=jax.random.key(1))
  chex.assert_shape(task.support.x, (30, ways * shots, 12, 12, 3))
  chex.assert_shape(task.query.x, (30, ways * query, 12, 12, 3))
  assert task.support.x.dtype == np.float32
  np.testing.assert_allclose(task.query.x[..., 5, 5, :], 100 / 255)
  drawn = set()
  for t in range(30):
    sources = _source(task.support.x[t]) + _source(task.query.x[t])
    labels = np.concatenate([task.support.y[t], task.query.y[t]])
    assert len(set(sources)) == ways * (shots + query)  # no example twice
    for (label, index), y in zip(sources, labels):
      assert label % 5 >= 3 and 0 <= index < 4 + label % 5  # a real example of a big class
      drawn.add((label, index))
    label_of = {}
    for (label, _), y in zip(sources, labels):
      assert label_of.setdefault(int(y), label) == label  # one class per task label
    assert len(set(label_of.values())) == ways
  assert {i for _, i in drawn} == set(range(8))  # every row of the biggest classes is drawn
  chex.assert_trees_all_equal(task, sample(family.data, 30, key=jax.random.key(1)))


def test_resize_grayscale_and_global_labels(fake_tfds):
  family = ti.tfds_images(dataset='gray', ways=4, shots=1, query=2, size=8, labels='global',
                          split='test')
  assert family.num_outputs == 10  # the 10 test classes
  task = family.draw(3, key=jax.random.key(2))
  chex.assert_shape(task.support.x, (3, 4, 8, 8, 1))
  assert set(np.asarray(task.query.y).ravel().tolist()) <= set(range(10))


def test_augmentation_changes_meta_training_tasks_only(fake_tfds):
  key = jax.random.key(3)
  for split, changed in (('train', True), ('test', False)):
    settings = dict(dataset='fake', split=split, query=2)
    plain = ti.tfds_images(**settings).draw(2, key=key)
    moved = ti.tfds_images(**settings, shift=2, degrees=10.0).draw(2, key=key)
    assert (not np.array_equal(plain.support.x, moved.support.x)) == changed
    mirrored = ti.tfds_images(**settings, flip=True).draw(2, key=key).support.x
    # the marker pixels (row 0, columns 0-1) end in the last columns of a mirrored image
    ends = np.asarray(mirrored)[..., 0, -2:, 0] * 255
    assert bool(np.any(np.rint(ends) != 100)) == changed


def test_label_smoothing_changes_the_training_loss_not_the_metrics(fake_tfds):
  logits = jax.random.normal(jax.random.key(4), (6, 5))
  y = np.array([0, 1, 2, 3, 4, 0])
  plain = ti.tfds_images(dataset='fake', query=2)
  smooth = ti.tfds_images(dataset='fake', query=2, label_smoothing=0.2)
  log_p = np.asarray(jax.nn.log_softmax(logits))
  want = -np.mean(0.8 * log_p[np.arange(6), y] + 0.2 / 5 * log_p.sum(1))
  np.testing.assert_allclose(smooth.loss(logits, y), want, rtol=1e-6)
  np.testing.assert_allclose(plain.loss(logits, y), -np.mean(log_p[np.arange(6), y]), rtol=1e-6)
  chex.assert_trees_all_equal(smooth.metrics(logits, y), plain.metrics(logits, y))
  with pytest.raises(UserError, match=r'label_smoothing must be in \[0, 1\), got 1.0'):
    ti.tfds_images(dataset='fake', query=2, label_smoothing=1.0)


def test_runner_trains_and_scores_the_experiment(fake_tfds, tmp_path):
  _, config = config_lib.load_config('protonets_tfds:1s,smoke,aug')
  assert config.task.name == 'tfds_images' and config.task.dataset == 'cifar100'
  assert config.task.flip and config.task.shift == 4 and config.task.shots == 1
  config.task.dataset = 'fake'
  config.task.query = config.eval.task.query = 2  # the fake classes have 4 to 8 examples
  config.keep_every, config.eval.select.split = 10, 'val'  # the checkpoint best on val classes
  rows = runner.run_single(config, tmp_path, progress=False)
  assert rows and all(r['dataset'] == 'fake' and 0 <= r['mean'] <= 1 for r in rows)
  assert (tmp_path / 'checkpoints' / str(config.train_steps)).is_dir()
  selection = json.loads((tmp_path / 'selection.json').read_text())
  assert sorted(selection['scores']) == ['10', '20'] and selection['split'] == 'val'
  assert rows[0]['selected_step'] == selection['selected_step']


@pytest.mark.parametrize('kwargs, message', [
    (dict(dataset='nosuch'), "could not load 'nosuch'.*ValueError: Dataset nosuch not found"),
    (dict(dataset='fake', image_key='img'), "no 'img' feature; they have 'id', 'image', 'label'"),
    (dict(dataset='fake', ways=11, shots=1, query=3, split='test'),
     '10 of its 10 classes have shots \\+ query = 4 examples, fewer than ways=11'),
    (dict(dataset='fake', split='val2'), 'split must be one of'),
    (dict(dataset='fake', classes=33), 'classes must be between 1 and 32'),
    (dict(dataset='fake', shift=6), 'shift must be'),
    (dict(dataset='fake', shots=0), 'shots >= 1'),
])
def test_bad_arguments_are_clear_errors(fake_tfds, kwargs, message):
  with pytest.raises(UserError, match=message):
    ti.tfds_images(**kwargs)


def test_images_of_different_shapes_need_a_size(monkeypatch):
  examples = [{'image': np.zeros((s, s, 3), np.uint8), 'label': 0} for s in (10, 12)]
  module = types.SimpleNamespace(load=lambda *a, **k: examples, as_numpy=lambda e: e)
  monkeypatch.setitem(sys.modules, 'tensorflow_datasets', module)
  ti.load_pool.cache_clear()
  with pytest.raises(UserError, match=r'differ in shape \(\[10, 10, 3\] and \[12, 12, 3\]\); '
                     r'pass size'):
    ti.load_pool('mixed')
  pool, _ = ti.load_pool('mixed', size=(6, 7))
  assert pool.examples.shape == (1, 2, 6, 7, 3)
  ti.load_pool.cache_clear()


def test_missing_tensorflow_datasets_says_how_to_install(monkeypatch):
  monkeypatch.setitem(sys.modules, 'tensorflow_datasets', None)  # import fails
  ti.load_pool.cache_clear()
  with pytest.raises(UserError, match=r"pip install 'metaft\[tfds\]'"):
    ti.tfds_images(dataset='cifar100')


def test_with_the_real_library_on_its_mock_data():
  tfds = pytest.importorskip('tensorflow_datasets', reason="needs pip install 'metaft[tfds]'")
  ti.load_pool.cache_clear()
  with tfds.testing.mock_data(num_examples=200):
    family = ti.tfds_images(dataset='cifar100', ways=5, shots=1, query=1, tfds_split='train',
                            fractions=(1, 0, 0))
  ti.load_pool.cache_clear()
  task = family.draw(4, key=jax.random.key(0))
  chex.assert_shape(task.support.x, (4, 5, 32, 32, 3))
  assert 0 <= float(task.support.x.min()) and float(task.support.x.max()) <= 1

"""Tests for the Omniglot loader and the on-device episodic sampler."""

import importlib
import shutil
import zipfile

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metaft.errors import UserError

# The module, not the factory that metaft.data re-exports under the same name.
om = importlib.import_module('metaft.data.omniglot')


def _data_dir():
  try:
    return om.find_data_dir()
  except UserError:
    return None


DATA = _data_dir()
requires_data = pytest.mark.skipif(
    DATA is None, reason=f'Omniglot data not found; set {om.ENV_VAR} to a folder with omniglot/')


@pytest.fixture(autouse=True)
def strict_jax():
  with jax.numpy_rank_promotion('raise'):
    yield


def _pixels(x):
  """Model inputs (ink 1) back to upstream uint8 pixels (ink 0)."""
  return np.rint((1.0 - np.asarray(x[..., 0])) * 255).astype(np.uint8)


def _locate(pool_images, x_Mx28x28x1):
  """(class, drawing) of each sampled image, by exact pixel match against the pool."""
  index = {img.tobytes(): (c, d)
           for c, imgs in enumerate(pool_images) for d, img in enumerate(imgs)}
  return [index[img.tobytes()] for img in _pixels(x_Mx28x28x1)]


# --- Finding and verifying the data -------------------------------------------------------


def test_missing_data_dir_names_env_var(tmp_path, monkeypatch):
  with pytest.raises(UserError, match=om.ENV_VAR) as info:
    om.omniglot(data_dir=tmp_path)
  assert 'brendenlake/omniglot' in str(info.value) and 'tensorflow-datasets' in str(info.value)
  monkeypatch.setenv(om.ENV_VAR, str(tmp_path / 'nowhere'))
  with pytest.raises(UserError, match=om.ENV_VAR):
    om.load_split('train')


@requires_data
def test_sha_mismatch_raises_naming_the_file(tmp_path):
  folder = tmp_path / 'omniglot'
  folder.mkdir()
  for part in ('background', 'evaluation'):
    shutil.copy(DATA / f'omniglot_{part}.npz', folder)
  shutil.copy(DATA / 'SHA256SUMS', folder)
  assert len(om.load_split('train', 'lake', data_dir=tmp_path).char_id) == 964  # Sums match.
  bad = tmp_path / 'bad'
  shutil.copytree(folder, bad / 'omniglot')
  (bad / 'omniglot' / 'SHA256SUMS').write_text('0' * 64 + '  omniglot_background.npz\n')
  with pytest.raises(UserError, match='omniglot_background.npz'):
    om.load_split('train', 'lake', data_dir=bad)


# --- Splits -------------------------------------------------------------------------------


@requires_data
@pytest.mark.parametrize('protocol, rotate, train, test', [
    ('vinyals', None, 4800, 1692),
    ('lake', None, 964, 659),
    ('lake', True, 4 * 964, 4 * 659),
])
def test_split_sizes(protocol, rotate, train, test):
  for split, count in (('train', train), ('test', test)):
    s = om.load_split(split, protocol, rotate=rotate)
    assert s.images.shape == (count, 20, 28, 28) and s.images.dtype == np.uint8
    assert s.char_id.shape == s.rotation.shape == (count,)


@requires_data
@pytest.mark.parametrize('protocol', om.PROTOCOLS)
def test_meta_test_characters_never_in_meta_training(protocol):
  train = set(om.load_split('train', protocol).char_id.tolist())
  test = set(om.load_split('test', protocol).char_id.tolist())
  assert not train & test
  assert train | test == set(range(1, 1624))
  expected = (1200, 423) if protocol == 'vinyals' else (964, 659)
  assert (len(train), len(test)) == expected


@requires_data
@pytest.mark.parametrize('protocol, train_chars', [('vinyals', 1200), ('lake', 964)])
def test_val_chars_sets_meta_validation_characters_apart(protocol, train_chars):
  whole = set(om.load_split('train', protocol).char_id.tolist())
  train, val, test = (set(om.load_split(split, protocol, val_chars=100).char_id.tolist())
                      for split in om.SPLITS)
  assert (len(train), len(val)) == (train_chars - 100, 100)
  assert train | val == whole and not train & val  # taken from meta-training only
  assert test == set(om.load_split('test', protocol).char_id.tolist())
  family = om.omniglot(ways=5, shots=1, query=1, split='val', val_chars=100, protocol=protocol)
  assert family.draw(2, key=jax.random.key(0)).support.x.shape == (2, 5, 28, 28, 1)
  with pytest.raises(UserError, match=f"{protocol!r} protocol has no meta-validation split: "
                     'set val_chars'):
    om.omniglot(split='val', protocol=protocol)
  with pytest.raises(UserError, match=f'val_chars must be an integer from 0 to '
                     f'{train_chars - 1}'):
    om.load_split('val', protocol, val_chars=train_chars)


@requires_data
def test_vinyals_split_is_fixed():
  a = om.load_split('train', 'vinyals').char_id
  om._load_split.cache_clear()
  b = om.load_split('train', 'vinyals').char_id
  assert np.array_equal(a, b)


@requires_data
def test_rotations_are_rot90_of_each_other_and_distinct_classes():
  s = om.load_split('train', 'vinyals')
  for c in (0, 1, 599, 1199):
    block = slice(4 * c, 4 * c + 4)
    assert len(set(s.char_id[block].tolist())) == 1
    assert s.rotation[block].tolist() == [0, 1, 2, 3]
    for k in range(4):
      rotated = np.rot90(s.images[4 * c], k, axes=(-2, -1))
      np.testing.assert_array_equal(s.images[4 * c + k], rotated)
  assert not om.load_split('train', 'lake').rotation.any()


# --- npz and PNG loaders agree ------------------------------------------------------------


@requires_data
def test_png_zip_and_folder_match_npz(tmp_path):
  ids = [1, 2, 500, 964]
  npz_images, _ = om._load_part(DATA, 'background', 'npz')
  expected = npz_images[np.array(ids) - 1]
  zip_path = DATA / 'images_background.zip'
  images, got_ids = om._read_pngs(zip_path, char_ids=ids)
  assert got_ids.tolist() == ids
  assert np.abs(images.astype(int) - expected).max() <= 1  # Measured: 0, pixel-identical.
  with zipfile.ZipFile(zip_path) as archive:
    wanted = [n for n in archive.namelist() if n.endswith('.png') and int(n[-11:-7]) in ids]
    archive.extractall(tmp_path, members=wanted)
  images, got_ids = om._read_pngs(tmp_path / 'images_background', char_ids=ids)
  assert got_ids.tolist() == ids
  assert np.abs(images.astype(int) - expected).max() <= 1


@requires_data
def test_whole_zip_matches_npz():
  """All 32460 drawings, ~4 s: the PIL BOX resize reproduces the npz arrays."""
  for split in ('train', 'test'):
    from_zip = om.load_split(split, 'lake', source='zip')
    from_npz = om.load_split(split, 'lake', source='npz')
    np.testing.assert_array_equal(from_zip.char_id, from_npz.char_id)
    assert np.abs(from_zip.images.astype(int) - from_npz.images).max() <= 1


# --- The sampler --------------------------------------------------------------------------


@requires_data
def test_sample_shapes_dtypes_and_label_counts():
  ways, shots, query, num_tasks = 20, 5, 15, 4
  family = om.omniglot(ways=ways, shots=shots, query=query)
  assert family.num_outputs == ways and family.metric == 'accuracy'
  assert family.info == {'dataset': 'omniglot', 'ways': ways, 'shots': shots}
  task = jax.jit(family.sample, static_argnums=1)(family.data, num_tasks, key=jax.random.key(0))
  chex.assert_shape(task.support.x, (num_tasks, ways * shots, 28, 28, 1))
  chex.assert_shape(task.query.x, (num_tasks, ways * query, 28, 28, 1))
  chex.assert_shape(task.support.y, (num_tasks, ways * shots))
  chex.assert_shape(task.query.y, (num_tasks, ways * query))
  assert task.support.x.dtype == task.query.x.dtype == jnp.float32
  assert task.support.y.dtype == task.query.y.dtype == jnp.int32
  x = np.asarray(task.support.x)
  assert x.min() >= 0.0 and x.max() <= 1.0 and x.mean() < 0.5  # Ink is 1, mostly background.
  for t in range(num_tasks):
    assert np.bincount(task.support.y[t], minlength=ways).tolist() == [shots] * ways
    assert np.bincount(task.query.y[t], minlength=ways).tolist() == [query] * ways


@requires_data
def test_support_and_query_share_classes_without_repeats():
  ways, shots, query, classes = 5, 3, 4, 12
  family = om.omniglot(ways=ways, shots=shots, query=query, protocol='lake', classes=classes)
  pool = om.load_split('train', 'lake').images[:classes]
  task = family.draw(6, key=jax.random.key(1))
  for t in range(6):
    support = _locate(pool, task.support.x[t])
    query_ = _locate(pool, task.query.x[t])
    assert len(set(support + query_)) == ways * (shots + query)  # No drawing twice.
    label_class = {}
    for (c, _), y in zip(support + query_, np.concatenate([task.support.y[t], task.query.y[t]])):
      assert label_class.setdefault(int(y), c) == c  # One class per label, in both sets.
    assert len(set(label_class.values())) == ways


@requires_data
def test_labels_are_permuted_across_tasks():
  ways = 5
  family = om.omniglot(ways=ways, shots=1, query=1, protocol='lake', classes=ways)
  pool = om.load_split('train', 'lake').images[:ways]
  task = family.draw(32, key=jax.random.key(2))
  maps = {tuple(c for c, _ in _locate(pool, task.support.x[t])) for t in range(32)}
  assert all(sorted(m) == list(range(ways)) for m in maps)
  assert len(maps) > 10  # 120 possible label orders.


@requires_data
def test_sample_jit_deterministic_and_no_retrace():
  family = om.omniglot(ways=5, shots=1, query=2, classes=40)
  sample = jax.jit(chex.assert_max_traces(family.sample, n=1), static_argnums=1)
  a = sample(family.data, 8, key=jax.random.key(3))
  b = sample(family.data, 8, key=jax.random.key(3))
  c = sample(family.data, 8, key=jax.random.key(4))
  chex.assert_trees_all_equal(a, b)
  assert not np.array_equal(a.support.x, c.support.x)
  chex.assert_trees_all_equal(a, family.draw(8, key=jax.random.key(3)))  # jit == no jit.
  vmapped = jax.vmap(lambda k: family.sample(family.data, 3, key=k))
  tasks = jax.jit(vmapped)(jax.random.split(jax.random.key(5), 2))
  chex.assert_shape(tasks.query.x, (2, 3, 10, 28, 28, 1))


@requires_data
@pytest.mark.parametrize('kwargs, match', [
    (dict(ways=6, classes=5), 'ways=6'),
    (dict(shots=10, query=11), 'shots \\+ query'),
    (dict(shots=0), 'shots'),
    (dict(classes=5000), 'between 1 and 4800'),
    (dict(split='val'), 'split'),
    (dict(protocol='lake2'), 'protocol'),
])
def test_bad_arguments_raise_user_error(kwargs, match):
  with pytest.raises(UserError, match=match):
    om.omniglot(**kwargs)

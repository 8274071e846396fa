"""Image augmentation: exact shifts and rotations, and Omniglot's train-only augmentation."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metaft.data import augment
from metaft.errors import UserError

om = importlib.import_module('metaft.data.omniglot')


def _dot(n=2, size=9, at=(4, 4)):
  images = np.zeros((n, size, size, 1), np.float32)
  images[:, at[0], at[1]] = 1.0
  return jnp.asarray(images)


def test_shift_moves_each_image_by_its_own_whole_pixel_offset():
  images = _dot(n=64)
  shifted = np.asarray(jax.jit(augment.random_shift, static_argnums=2)(
      jax.random.key(0), images, 2))
  offsets = set()
  for image in shifted[..., 0]:
    (r,), (c,) = np.nonzero(image)  # still one pixel of ink, moved, not blurred
    assert image[r, c] == 1.0 and abs(r - 4) <= 2 and abs(c - 4) <= 2
    offsets.add((r - 4, c - 4))
  assert len(offsets) > 10  # independent draws over the 25 offsets
  np.testing.assert_array_equal(augment.random_shift(jax.random.key(0), images, 0), images)


def test_flip_mirrors_about_half_of_the_images_and_nothing_else():
  images = jax.random.uniform(jax.random.key(2), (200, 5, 6, 3))
  flipped = np.asarray(jax.jit(augment.random_flip)(jax.random.key(3), images))
  mirrored = np.all(flipped == np.asarray(images)[:, :, ::-1], axis=(1, 2, 3))
  kept = np.all(flipped == np.asarray(images), axis=(1, 2, 3))
  assert np.all(mirrored ^ kept) and 70 < mirrored.sum() < 130
  plain = augment.shift_and_rotate(jax.random.key(4), images, shift=1, degrees=5.0)
  again = augment.shift_and_rotate(jax.random.key(4), images, shift=1, degrees=5.0, flip=False)
  np.testing.assert_array_equal(plain, again)


def test_shift_fills_with_background():
  images = jnp.ones((16, 5, 5, 1))
  shifted = np.asarray(augment.random_shift(jax.random.key(1), images, 2))
  assert shifted.min() == 0.0 and set(np.unique(shifted)) == {0.0, 1.0}


def test_rotation_by_a_quarter_turn_is_exact_and_by_zero_is_the_identity():
  images = jax.random.uniform(jax.random.key(2), (3, 7, 7, 2))
  np.testing.assert_allclose(augment.rotate(images, jnp.zeros(3)), images, atol=1e-6)
  quarter = augment.rotate(images, jnp.full(3, np.pi / 2))
  np.testing.assert_allclose(quarter, jnp.rot90(images, k=1, axes=(1, 2)), atol=1e-5)


def test_random_rotation_stays_within_its_range():
  images = _dot(n=32, size=21, at=(10, 16))  # 6 pixels right of the centre
  rotated = np.asarray(augment.random_rotate(jax.random.key(3), images, 10.0))
  for image in rotated[..., 0]:
    r, c = np.unravel_index(np.argmax(image), image.shape)
    angle = np.degrees(np.arctan2(10 - r, c - 10))  # counter-clockwise from the right
    assert abs(angle) <= 10 + 10  # bilinear peak: within a pixel of the exact position
    assert image.max() > 0.25 and image.sum() < 2  # moved and blurred a little, not lost


@pytest.mark.parametrize('settings, message', [
    (dict(shift=-1), 'shift must be an integer number of pixels in \\[0, 14\\)'),
    (dict(shift=1.5), 'shift must be an integer'),
    (dict(degrees=200), 'degrees must be in \\[0, 180\\]')])
def test_bad_augmentation_settings_are_clear_errors(settings, message):
  with pytest.raises(UserError, match=message):
    om.omniglot(**settings)


def _requires_data():
  try:
    om.find_data_dir()
  except UserError:
    pytest.skip('Omniglot not found: set METAFT_DATA_DIR')


def test_omniglot_augments_the_train_split_only():
  _requires_data()
  key = jax.random.key(4)
  plain = om.omniglot(classes=40).draw(4, key=key)
  # Off, the settings leave the task stream exactly as it was.
  off = om.omniglot(classes=40, shift=0, degrees=0.0).draw(4, key=key)
  np.testing.assert_array_equal(off.support.x, plain.support.x)
  augmented = om.omniglot(classes=40, shift=2, degrees=10.0).draw(4, key=key)
  np.testing.assert_array_equal(augmented.support.y, plain.support.y)
  x = np.asarray(augmented.support.x)
  assert x.shape == plain.support.x.shape and x.min() >= 0 and x.max() <= 1
  pool = om.load_split('train').images[:40]
  drawings = {(255 - img).astype(np.float32).tobytes() for img in pool.reshape(-1, 28, 28)}
  scaled = np.rint(x[..., 0] * 255).reshape(-1, 28, 28).astype(np.float32)
  unchanged = sum(img.tobytes() in drawings for img in scaled)
  assert unchanged < len(scaled) // 4  # most images were moved (a draw of 0 px and ~0 deg is rare)
  # The test split is never augmented.
  np.testing.assert_array_equal(
      om.omniglot(split='test', shift=2, degrees=10.0).draw(4, key=key).query.x,
      om.omniglot(split='test').draw(4, key=key).query.x)

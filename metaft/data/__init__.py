"""Task families. Each is a factory ``name(*, split, **settings) -> TaskFamily``."""

from metaft.data.files import load_task, save_task
from metaft.data.finance import stocks
from metaft.data.omniglot import omniglot
from metaft.data.sine import sine
from metaft.data.tfds_images import tfds_images

__all__ = ['omniglot', 'sine', 'stocks', 'tfds_images']

"""Prototypical Networks on any image data set of the tensorflow-datasets catalogue.

Command:   metaft run protonets_tfds --config.task.dataset=cifar100   (`:1s` trains on 1-shot
           episodes; `:smoke`; `,aug` augments the meta-training images as natural images
           usually are: mirrored with probability 1/2 and shifted by up to 4 pixels)
Needs:     pip install 'metaft[tfds]' and a network: the first run downloads and prepares the
           data set under ~/tensorflow_datasets (`--config.task.data_dir=...` elsewhere).
Expected:  not measured here (the machines that ran this repository's tables have no route to
           the tfds downloads); the tests run it on tfds's mock data and on a fake catalogue.

Protocol: the classes of the data set (all its tfds splits pooled) split 64 / 16 / 20 percent
into meta-training, validation and meta-test classes by a seeded permutation (for CIFAR-100,
64/16/20 classes as CIFAR-FS, Bertinetto et al. 2019, but not its class lists); ProtoNets'
Omniglot settings otherwise (`protonets_omniglot`): 20,000 training episodes of 20 classes x
(shots + 15 query), Adam at 1e-3 halved every 2000 episodes, MAML's Conv-4 as the embedding
(any image size: its head reads the spatial mean), and 1000 meta-test tasks of 5 ways with 15
query examples per class, scored at the training shot. Other data sets:
`--config.task.dataset=emnist/letters` (or `omniglot`, `mnist`, ...), `--config.task.size=32`
where image sizes differ, `--config.task.image_key=...` where the feature is not 'image'.
"""

from maml_omniglot import parse_arg, shrink_for_smoke
from protonets_omniglot import get_config as omniglot_protonets


def get_config(arg=None):
  shots, smoke, aug = parse_arg(arg, ('1s', '5s'), default='5s', flags=('smoke', 'aug'))
  c = omniglot_protonets(shots)
  c.label = 'protonets'
  c.task = dict(name='tfds_images', dataset='cifar100', ways=20, shots=int(shots[0]), query=15)
  c.learner.ways = 20
  c.eval.task = dict(query=15)
  c.eval.protocols = {f'5w{shots}': dict(task=dict(ways=5), learner=dict(ways=5))}
  if aug:
    c.label += ' +aug'
    c.task.update(dict(flip=True, shift=4))
  if smoke:
    shrink_for_smoke(c)
    del c.task['classes']  # the data set's class split decides
    c.task.ways = c.learner.ways = 5
  return c

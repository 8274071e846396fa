"""Import shim for the learn2learn environment: lets torchvision 0.28 import beside the CPU
torch 2.13 by defining the two operator schemas it expects, then imports learn2learn."""

import torch

_lib = torch.library.Library('torchvision', 'DEF')  # noqa: F841 - kept alive for the schemas
_lib.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
_lib.define('qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')

import learn2learn  # noqa: E402,F401

"""Diagnosis: shared cyclic layers without adapters, the shared tensors (``backbone.layers.*``)
at 0.1x the growth learning rate: the control for ``scalenet2x_shared_lr01.py`` (is a gain
there the adapters' or the lower rate's?). Otherwise as ``scalenet2x_shared_noadapter.py``."""
_base_ = './scalenet2x_shared_noadapter.py'

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone.layers.': dict(lr_mult=0.1)}))

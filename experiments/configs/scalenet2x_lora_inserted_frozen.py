"""Diagnosis: LoRA on the inserted instances only, the shared pretrained tensors
(``backbone.layers.*``) frozen (lr 0, no decay). The first use of every layer computes
exactly the base function through the whole run; the inserted uses differ from it only by
their trained low-rank deltas (the embeddings and head train as usual). This is growth in
the manner of parameter-efficient fine-tuning: what the adapters alone can add. Otherwise as
``scalenet2x_lora_inserted.py``."""
_base_ = './scalenet2x_lora_inserted.py'

optim_wrapper = dict(paramwise_cfg=dict(
    custom_keys={'backbone.layers.': dict(lr_mult=0.0, decay_mult=0.0)}))

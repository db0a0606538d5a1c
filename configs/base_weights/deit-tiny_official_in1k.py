# The official DeiT-Tiny release as a stock mmpretrain classifier (model, ImageNet test
# pipeline). Its weights come from configs/base_weights/metafile.yml through the scalenet-zoo://
# scheme, which converts the official keys: mmpretrain.get_model('deit-tiny_official_in1k',
# pretrained=True) after `import scalenet_mm`.
_base_ = 'mmpretrain::deit/deit-tiny_4xb256_in1k.py'

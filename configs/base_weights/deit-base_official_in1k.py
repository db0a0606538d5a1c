# The official DeiT-Base release as a stock mmpretrain classifier (model, ImageNet test
# pipeline). Its weights come from configs/base_weights/metafile.yml through the scalenet-zoo://
# scheme, which converts the official keys: mmpretrain.get_model('deit-base_official_in1k',
# pretrained=True) after `import scalenet_mm`.
_base_ = 'mmpretrain::deit/deit-base_16xb64_in1k.py'

"""Moved to ``experiments/reproduce_scalenet.py`` (same options); this forwards to it."""
import os.path as osp, runpy  # noqa: E401
runpy.run_path(osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'experiments', 'reproduce_scalenet.py'), run_name='__main__')  # noqa: E501

"""A test-only STAND-IN for the subset of the Kubeflow Pipelines SDK (kfp
2.x) that modelgate's kfp/pipeline.py uses; the real SDK cannot be
installed here (no PyPI). It is not kfp: it records the pipeline's DAG
with KFP v2's rules (see dsl.py) so that tests/pipelines/kfp_run.py can
run it with the built programs. Modules: dsl, components, compiler,
kubernetes (the kfp-kubernetes extension).
"""
__version__ = "2.15.2+modelgate-stand-in"

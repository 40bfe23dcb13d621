"""Stand-in for kfp.compiler (test-only). Compiler().compile(pipeline, path)
writes the stand-in's own IR (JSON, not KFP's PipelineSpec) that
tests/pipelines/kfp_run.py runs."""
import json


class Compiler:
    def compile(self, pipeline_func, package_path, pipeline_parameters=None):
        ir = pipeline_func.build()
        with open(package_path, "w") as f:
            json.dump(ir, f, indent=1)
        return ir

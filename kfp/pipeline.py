"""The AI engineer's Kubeflow pipeline (e.g. compiled from an Elyra canvas).

Find a registered model version, rerun performance and accuracy with the
team's own prompts and questions, compare with the baseline in the report,
and add the results, under the team's dataset label, to the same version.
Every step is one modelgate program from the same container image; the
components are in components/.

    python3 pipeline.py            # writes custom-benchmark.yaml
"""
from pathlib import Path

from kfp import compiler, components, dsl

HERE = Path(__file__).parent / "components"
registry_fetch = components.load_component_from_file(HERE / "registry-fetch.yaml")
perf_run = components.load_component_from_file(HERE / "perf-run.yaml")
eval_run = components.load_component_from_file(HERE / "eval-run.yaml")
results_merge = components.load_component_from_file(HERE / "results-merge.yaml")
registry_push = components.load_component_from_file(HERE / "registry-push.yaml")


@dsl.pipeline(
    name="modelgate-custom-benchmark",
    description="Benchmark a registered model with your own data",
)
def custom_benchmark(
    registry: str,
    model: str,
    model_version: str,
    endpoint: str,
    served_model: str,
    label: str,
    prompts: str,
    tasks: str,
    task_dir_uri: str,
    rate: str = "4",
):
    seed = registry_fetch(registry=registry, model=model,
                          model_version=model_version)
    perf = perf_run(record_in=seed.outputs["record_out"], target=endpoint,
                    profile="constant", rate=rate, data=prompts, label=label)
    task_dir = dsl.importer(artifact_uri=task_dir_uri,
                            artifact_class=dsl.Artifact)
    evals = eval_run(record_in=seed.outputs["record_out"], base_url=endpoint,
                     model=served_model, tasks=tasks,
                     task_dir=task_dir.output, label=label)
    merged = results_merge(perf_record=perf.outputs["record_out"],
                           eval_record=evals.outputs["record_out"],
                           title=f"{model} {model_version}: {label}")
    registry_push(record_in=merged.outputs["record_out"], registry=registry,
                  model=model, model_version=model_version, label=label)


if __name__ == "__main__":
    compiler.Compiler().compile(custom_benchmark, "custom-benchmark.yaml")

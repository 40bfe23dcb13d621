"""Stand-in for the kfp-kubernetes extension (from kfp import kubernetes),
test-only: secrets as environment variables or volumes."""
from .dsl import PipelineTask


def _task(task):
    if not isinstance(task, PipelineTask):
        raise TypeError("expected a pipeline task")
    return task


def use_secret_as_env(task, secret_name, secret_key_to_env, optional=False):
    if not isinstance(secret_name, str) or not secret_key_to_env:
        raise TypeError("secret_name and secret_key_to_env are required")
    _task(task).secrets_env.append({"secret": secret_name,
                                    "keys": dict(secret_key_to_env),
                                    "optional": bool(optional)})
    return task


def use_secret_as_volume(task, secret_name, mount_path, optional=False):
    if not isinstance(secret_name, str) or not mount_path.startswith("/"):
        raise TypeError("secret_name and an absolute mount_path are required")
    _task(task).secrets_vol.append({"secret": secret_name, "path": mount_path,
                                    "optional": bool(optional)})
    return task

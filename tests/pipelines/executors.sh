#!/bin/bash
# The local Tekton and Kubeflow executors (tekton_run.py, kfp_run.py and
# the kfp stand-in) against small pipelines: each rule they implement.
. "$(dirname "$0")/../lib.sh"
MG_TRASH=$TRASH_ROOT python3 "$MG_TOP/tests/pipelines/executors_test.py"

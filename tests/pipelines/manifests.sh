#!/bin/bash
# Tekton and Kubeflow manifests: each step runs one modelgate program with
# options that program documents, and every reference is declared.
. "$(dirname "$0")/../lib.sh"

py=python3
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import yaml' 2>/dev/null; then
    py=$p
    break
  fi
done
"$py" "$MG_TOP/tests/pipelines/manifests.py" "$MG_TOP" "$MG_BUILD/bin"

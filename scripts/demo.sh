#!/bin/sh
# make demo: modelgate's main job end to end on embedded defaults.
#
# A ModelOps team brings a model in (model-fetch), gates it (model-verify),
# measures performance (perf-run) and accuracy (eval-run) against a served
# endpoint, merges the results into a report (results-merge) and registers
# everything (registry-push). Then an AI engineer reruns both with their own
# data and adds those results to the same model version.
#
# Embedded defaults: the model is a small one this script writes, the
# endpoint is mock-llm (a real OpenAI-compatible server with a fake model)
# and the registry is a local directory. Everything lands in demo-out/.
set -eu
O=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $O in /*) ;; *) O=$top/$O ;; esac
PATH=$O/bin:$PATH
out=$top/demo-out
rm -rf "$out"
mkdir -p "$out"
cd "$out"

step() { printf '\n== %s\n' "$*" >&2; }
mock_pid=
cleanup() {
  [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
  [ -n "${reg_pid:-}" ] && kill "$reg_pid" 2>/dev/null
  true
}
trap cleanup EXIT INT TERM

# Little-endian 8-byte length, as safetensors starts.
le64() {
  n=$1 i=0
  while [ $i -lt 8 ]; do
    printf "\\$(printf '%03o' $((n & 255)))"
    n=$((n >> 8)) i=$((i + 1))
  done
}

start_mock() {
  rm -f mock.port
  mock-llm --host 127.0.0.1 --port 0 --port-file mock.port -q "$@" \
    2>mock.log &
  mock_pid=$!
  i=0
  while [ ! -s mock.port ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  [ -s mock.port ] || { cat mock.log >&2; exit 1; }
  URL=http://127.0.0.1:$(cat mock.port)
}

stop_mock() {
  kill "$mock_pid" 2>/dev/null || true
  wait "$mock_pid" 2>/dev/null || true
  mock_pid=
}

step "1. a model to bring in: demo-out/upstream/demo-7b"
mkdir -p upstream/demo-7b
cat >upstream/demo-7b/config.json <<'JSON'
{"architectures": ["DemoForCausalLM"], "model_type": "demo",
 "hidden_size": 4, "num_hidden_layers": 1, "vocab_size": 16}
JSON
hdr='{"__metadata__":{"format":"pt"},"lm_head.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'
while [ $((${#hdr} % 8)) -ne 0 ]; do hdr="$hdr "; done
{ le64 ${#hdr}; printf '%s' "$hdr"; printf '\000\000\200\077%.0s' 1 2 3 4; } \
  >upstream/demo-7b/model.safetensors

# A container registry on loopback plays both the vendor's registry the
# model comes from and the internal one it is stored in (Debian's
# docker-registry; without it the demo copies from the directory).
REG=
reg_pid=
if command -v docker-registry >/dev/null 2>&1; then
  rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p oci-registry
  cat >oci-registry.yml <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $out/oci-registry
http:
  addr: 127.0.0.1:$rport
YML
  docker-registry serve oci-registry.yml >oci-registry.log 2>&1 &
  reg_pid=$!
  i=0
  while [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$rport/v2/")" = 000 ] \
    && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  REG=127.0.0.1:$rport
  # The vendor publishes the model as a modelcar image.
  model-fetch -q upstream/demo-7b "oci://$REG/vendor/demo-7b:1.0" >/dev/null
fi

mkdir -p models
if [ -n "$REG" ]; then
  step "2. model-fetch: bring it in from oci://$REG/vendor/demo-7b:1.0"
  model-fetch "oci://$REG/vendor/demo-7b:1.0" models/demo-7b >1-fetched.json
else
  step "2. model-fetch: bring it in (no docker-registry: from the directory)"
  model-fetch upstream/demo-7b models/demo-7b >1-fetched.json
fi

step "3. model-verify: integrity, formats, policy"
model-verify -i 1-fetched.json >2-verified.json
if [ -n "$REG" ]; then
  echo "   store the verified model internally as a KServe modelcar" >&2
  model-fetch -i 2-verified.json models/demo-7b \
    "oci://$REG/models/demo-7b:v1" >2-stored.json
  mv 2-stored.json 2-verified.json
fi

step "4. the served endpoint: mock-llm (TTFT 40 ms, ITL 8 ms, 8 batch slots)"
mkdir -p tasks
cat >tasks/k8s_basics.yaml <<'YAML'
task: k8s_basics
dataset_path: json
dataset_kwargs:
  data_files: tasks/k8s_basics.jsonl
test_split: train
output_type: multiple_choice
doc_to_text: "Question: {{question}}\nAnswer:"
doc_to_choice: choices
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
YAML
: >tasks/k8s_basics.jsonl
for q in \
  'Which component schedules pods onto nodes?|kubelet|kube-scheduler|etcd|kube-proxy|1' \
  'Which store keeps the cluster state?|etcd|Redis|a ConfigMap|the kubelet|0' \
  'Which object runs a fixed number of pod replicas?|Service|Ingress|Deployment|Secret|2' \
  'Which object gives pods a stable virtual IP?|Service|Pod|Node|Job|0' \
  'Which object holds a password for a pod?|ConfigMap|Secret|Volume|Label|1' \
  'Which object runs a pod on every node?|Deployment|StatefulSet|DaemonSet|CronJob|2' \
  'Which object runs a task to completion?|Job|Service|Route|Ingress|0' \
  'Which object runs a task on a schedule?|Job|CronJob|DaemonSet|ReplicaSet|1' \
  'Which command-line tool talks to the API server?|kubectl|kubeadm|etcdctl|crictl|0' \
  'Which OpenShift object exposes a Service by host name?|Route|ImageStream|BuildConfig|Project|0' \
  'Which object claims storage for a pod?|PersistentVolumeClaim|StorageClass|Node|Namespace|0' \
  'Which object isolates names within a cluster?|Namespace|Label|Taint|Node|0'
do
  IFS='|' read -r qq a b c d ans <<EOQ
$q
EOQ
  printf '{"question": "%s", "choices": ["%s", "%s", "%s", "%s"], "answer": %s}\n' \
    "$qq" "$a" "$b" "$c" "$d" "$ans" >>tasks/k8s_basics.jsonl
done
# The mock answers from a key: it "knows" 75% of the questions (chosen by
# a seeded hash), so the expected accuracy is known before the run.
eval-run --tasks k8s_basics --include-path tasks \
  --write-answer-key answer-key.jsonl >/dev/null
mock-llm --answer-key answer-key.jsonl --answer-accuracy 0.75 --seed 7 \
  --answer-expect >expected.json
start_mock --ttft-ms 40 --itl-ms 8 --slots 8 --seed 7 \
  --answer-key answer-key.jsonl --answer-accuracy 0.75
echo "mock-llm at $URL" >&2

step "5. perf-run: sweep against the endpoint (baseline data)"
perf-run --target "$URL" --endpoint completions --profile sweep --rate 5 \
  --max-seconds 2 --data prompt_tokens=128,output_tokens=32 \
  --samples perf-samples.jsonl --label baseline \
  -i 2-verified.json >3-perf.json

step "6. eval-run: the task against the endpoint"
eval-run --base-url "$URL" --model llama-3.1-8b-instruct --tasks k8s_basics \
  --include-path tasks --num-concurrent 4 --label baseline \
  -i 3-perf.json >4-eval.json

step "7. results-merge: one record, Markdown and HTML reports"
results-merge --title "demo-7b baseline" --markdown report.md \
  --html report.html 4-eval.json >5-merged.json

step "8. registry-push: register model, version, artifact and results"
registry-push --registry-dir registry --model-version v1 \
  -i 5-merged.json >6-registered.json

step "9. an AI engineer finds the model in the registry and reruns it"
registry-push --get --registry-dir registry --model demo-7b \
  --model-version v1 >7-seed.json
cat >my-prompts.jsonl <<'JSONL'
{"prompt": "Summarise the incident report for the on-call engineer in three bullet points.", "output_tokens_count": 48}
{"prompt": "Write a kubectl command that scales the web deployment to five replicas.", "output_tokens_count": 16}
{"prompt": "Explain what a readiness probe does, for a new team member.", "output_tokens_count": 64}
{"prompt": "Draft a short status update about the database migration.", "output_tokens_count": 40}
JSONL
perf-run --target "$URL" --endpoint completions --profile constant --rate 4 \
  --max-seconds 3 --data my-prompts.jsonl --label support-bot \
  -i 7-seed.json >8-custom.json
registry-push --registry-dir registry --model-version v1 \
  --label support-bot -i 8-custom.json >9-registered.json
results-merge --compare --title "demo-7b: baseline vs support-bot" \
  --label baseline 5-merged.json --label support-bot 8-custom.json \
  --markdown compare.md --html compare.html >10-compare.json
stop_mock

step "results"
cat report.md
echo
sed -n '/^## Performance/,/^## Sweeps/p' compare.md
echo
echo "expected accuracy from the answer key: $(cat expected.json)"
echo
echo "reports: $out/report.html $out/compare.html"
echo "registry: $out/registry/registry.json"
echo "records: $out/[0-9]*-*.json"

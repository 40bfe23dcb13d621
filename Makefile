# modelgate - one non-recursive Makefile.
#
#   make            build lib/libmodelgate.a and every tool into $(O)/bin
#   make deps       install the Debian packages the build and tests need
#                   (the check targets only check, and say what to run)
#   make check      unit, tool and pipeline tests; ends "N passed, N failed"
#   make check-asan the same under ASan+UBSan+LSan (in build-asan/)
#   make demo       the main job end to end on embedded defaults
#   make install    PREFIX=/usr/local DESTDIR=

O ?= build
PREFIX ?= /usr/local
DESTDIR ?=
DEVELOPER ?= 1

PKGS = libarchive libcjson libcrypto libcurl liblzma libmicrohttpd \
       libpcre2-8 libutf8proc yaml-0.1 zlib

CC ?= cc
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 $(CFLAGS) -fno-strict-aliasing -MMD -MP \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ALL_CPPFLAGS = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ilib $(CPPFLAGS)
# libbz2 ships no pkg-config file in Debian.
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lbz2 -lm -lpthread

ifeq ($(DEVELOPER),1)
ALL_CFLAGS += -Werror -Wall -Wextra -pedantic -Wformat=2 -Wformat-security \
              -Wstrict-prototypes -Wold-style-definition -Wpointer-arith \
              -Wvla -Wwrite-strings -Wshadow -Wno-overlength-strings
endif
ifeq ($(SANITIZE),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

# core: what three or more tools use
LIB_OBJS_CORE = \
	lib/mg_archive.o \
	lib/mg_base64.o \
	lib/mg_buf.o \
	lib/mg_cli.o \
	lib/mg_digest.o \
	lib/mg_err.o \
	lib/mg_hash.o \
	lib/mg_http.o \
	lib/mg_http1.o \
	lib/mg_io.o \
	lib/mg_json.o \
	lib/mg_mem.o \
	lib/mg_note.o \
	lib/mg_progress.o \
	lib/mg_record.o \
	lib/mg_stats.o \
	lib/mg_time.o \
	lib/mg_tree.o \
	lib/mg_utf8.o

# py/: Python-exact values, YAML, regex, MT19937
LIB_OBJS_PY = \
	lib/py/mg_mt.o \
	lib/py/mg_pv.o \
	lib/py/mg_regex.o \
	lib/py/mg_yaml.o

# tok/: the Hugging Face tokenizer
LIB_OBJS_TOK = \
	lib/tok/mg_tok.o \
	lib/tok/mg_tok_dec.o \
	lib/tok/mg_tok_find.o \
	lib/tok/mg_tok_model.o \
	lib/tok/mg_tok_norm.o \
	lib/tok/mg_tok_pre.o \
	lib/tok/mg_tok_proc.o \
	lib/tok/mg_tok_remote.o \
	lib/tok/mg_tok_util.o

# fetch/: model-fetch sources and destinations
LIB_OBJS_FETCH = \
	lib/fetch/mg_fetch.o \
	lib/fetch/mg_fetch_ds.o \
	lib/fetch/mg_hashq.o \
	lib/fetch/mg_hf.o \
	lib/fetch/mg_oci.o \
	lib/fetch/mg_s3.o

# verify/: model-verify checks
LIB_OBJS_VERIFY = \
	lib/verify/mg_gguf.o \
	lib/verify/mg_npy.o \
	lib/verify/mg_pickle.o \
	lib/verify/mg_protobuf.o \
	lib/verify/mg_safetensors.o \
	lib/verify/mg_sign.o \
	lib/verify/mg_unpack.o \
	lib/verify/mg_verify.o \
	lib/verify/mg_zip.o

# perf/: the perf-run engine
LIB_OBJS_PERF = \
	lib/perf/mg_perf_bench.o \
	lib/perf/mg_perf_cfg.o \
	lib/perf/mg_perf_data.o \
	lib/perf/mg_perf_guidellm.o \
	lib/perf/mg_perf_metrics.o \
	lib/perf/mg_perf_osd.o \
	lib/perf/mg_perf_plan.o \
	lib/perf/mg_perf_rand.o \
	lib/perf/mg_perf_report.o \
	lib/perf/mg_perf_req.o \
	lib/perf/mg_perf_sched.o \
	lib/perf/mg_perf_sse.o

# eval/: the eval-run engine
LIB_OBJS_EVAL = \
	lib/eval/mg_bleu.o \
	lib/eval/mg_chat.o \
	lib/eval/mg_dataset.o \
	lib/eval/mg_eval.o \
	lib/eval/mg_eval_group.o \
	lib/eval/mg_eval_out.o \
	lib/eval/mg_eval_table.o \
	lib/eval/mg_metrics.o \
	lib/eval/mg_task.o \
	lib/eval/mg_tmpl.o \
	lib/eval/mg_tmpl_filter.o \
	lib/eval/mg_tmpl_lex.o \
	lib/eval/mg_tmpl_parse.o \
	lib/eval/mg_tmpl_run.o

# mock/: the mock-llm engine
LIB_OBJS_MOCK = \
	lib/mock/mg_mock.o \
	lib/mock/mg_mock_gen.o \
	lib/mock/mg_mock_key.o \
	lib/mock/mg_mock_req.o \
	lib/mock/mg_mock_sched.o \
	lib/mock/mg_mock_tok.o

# publish/: results, merge, report, registry
LIB_OBJS_PUBLISH = \
	lib/publish/mg_merge.o \
	lib/publish/mg_propkey.o \
	lib/publish/mg_registry.o \
	lib/publish/mg_report.o \
	lib/publish/mg_results.o

LIB_OBJS = $(LIB_OBJS_CORE) $(LIB_OBJS_PY) $(LIB_OBJS_TOK) $(LIB_OBJS_FETCH) \
           $(LIB_OBJS_VERIFY) $(LIB_OBJS_PERF) $(LIB_OBJS_EVAL) $(LIB_OBJS_MOCK) \
           $(LIB_OBJS_PUBLISH)

TOOLS = \
	eval-run \
	mock-llm \
	model-fetch \
	model-verify \
	perf-run \
	registry-push \
	results-merge

LIB = $(O)/lib/libmodelgate.a
BINS = $(addprefix $(O)/bin/,$(TOOLS))
UNIT_DIRS = tests/unit $(addprefix tests/unit/,eval fetch mock perf publish py tok verify)
UNIT_SRCS = $(sort $(foreach d,$(UNIT_DIRS),$(wildcard $(d)/test_*.c)))
UNIT_BINS = $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TEST_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

all: $(BINS)

ifeq ($(V),1)
Q =
else
Q = @
endif

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(addprefix $(O)/,$(LIB_OBJS))
	@mkdir -p $(dir $@)
	@rm -f $@
	@$(if $(Q),echo "  AR      $@")
	$(Q)$(AR) rcs $@ $^

$(O)/bin/%: $(O)/tools/%.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

$(O)/tests/%: $(O)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS) $(TEST_LIBS)

deps:
	@sh scripts/deps.sh

# The test targets never run apt-get (CI's .ci/run and make deps do); they
# stop and say what to install. make demo installs as root, like make deps.
deps-check:
	@sh scripts/deps.sh --check

tests: $(BINS) $(UNIT_BINS) $(O)/tests/mock-registry

# The fake Kubeflow Model Registry the registry-push tests run against.
$(O)/tests/mock-registry: $(O)/tests/fixtures/registry/mock-registry.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

check: deps-check
	@$(MAKE) --no-print-directory tests
	@sh tests/run $(O)

check-unit check-tools check-pipelines check-lint: deps-check
	@$(MAKE) --no-print-directory tests
	@sh tests/run $(O) $(patsubst check-%,%,$@)

check-asan: deps-check
	@$(MAKE) --no-print-directory O=build-asan SANITIZE=1 tests
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  sh tests/run build-asan

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(O)

# Screenshots of the reports of a real `make demo` run (a perf sweep and an
# eval, then the AI engineer's rerun on their own data), for reviewers:
# $(O)/report/demo-report.png (the baseline report) and
# $(O)/report/demo-compare.png (baseline vs custom).
report-screenshot: all
	@mkdir -p $(O)/report
	@sh scripts/demo.sh $(O) >$(O)/report/demo.log 2>&1 || \
	  { tail -20 $(O)/report/demo.log; exit 1; }
	@python3 tests/browser.py shot file://$(CURDIR)/demo-out/report.html \
	  $(O)/report/demo-report.png
	@python3 tests/browser.py shot file://$(CURDIR)/demo-out/compare.html \
	  $(O)/report/demo-compare.png
	@echo "reports: demo-out/report.html demo-out/compare.html"
	@echo "screenshots: $(O)/report/demo-report.png $(O)/report/demo-compare.png"

bench: all
	@for b in bench/*; do [ -x "$$b" ] && "$$b" $(O); done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin

FORMAT_SRCS = $(wildcard lib/*.[ch] lib/*/*.[ch] tools/*.c bench/*.c tests/unit/*.c \
                         tests/unit/*/*.c tests/fixtures/*/*.c fuzz/*.c)

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRCS)

# lint: the formatter, the banned functions, the layer table and the
# symbol names (docs/layout.md), each a check that fails on a violation.
lint: format-check check-banned check-layers check-names

check-banned:
	@! grep -nE '\b(strcpy|strcat|strncpy|strncat|sprintf|vsprintf|strtok|atoi|atol|gets|gmtime|localtime|ctime|asctime)\(' \
	  lib/*.c lib/*/*.c tools/*.c | grep -v 'MG_BANNED'

check-layers:
	@sh scripts/check-layers .

check-names: $(LIB)
	@sh scripts/check-names $(O)/lib

clean:
	rm -rf build build-asan

.PHONY: all bench check check-asan check-banned check-layers check-lint \
        check-names check-pipelines check-tools check-unit \
        clean demo deps deps-check format format-check install lint report-screenshot \
        tests
.SECONDARY:

-include $(shell find $(O) -name '*.d' 2>/dev/null)

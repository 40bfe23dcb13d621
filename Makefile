# modelgate - one non-recursive Makefile.
#
#   make            build lib/libmodelgate.a and every tool into $(O)/bin
#   make deps       install the Debian packages the build and tests need
#   make check      unit, tool and pipeline tests; ends "N passed, N failed"
#   make check-asan the same under ASan+UBSan+LSan (in build-asan/)
#   make demo       the main job end to end on embedded defaults
#   make install    PREFIX=/usr/local DESTDIR=

O ?= build
PREFIX ?= /usr/local
DESTDIR ?=
DEVELOPER ?= 1

PKGS = libarchive libcjson libcrypto libcurl libmicrohttpd libpcre2-8 \
       libutf8proc yaml-0.1

CC ?= cc
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 $(CFLAGS) -fno-strict-aliasing -MMD -MP \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
ALL_CPPFLAGS = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ilib $(CPPFLAGS)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread

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

LIB_OBJS = \
	lib/mg_archive.o \
	lib/mg_base64.o \
	lib/mg_bleu.o \
	lib/mg_buf.o \
	lib/mg_chat.o \
	lib/mg_cli.o \
	lib/mg_dataset.o \
	lib/mg_digest.o \
	lib/mg_err.o \
	lib/mg_eval.o \
	lib/mg_eval_out.o \
	lib/mg_fetch.o \
	lib/mg_gguf.o \
	lib/mg_hf.o \
	lib/mg_http.o \
	lib/mg_io.o \
	lib/mg_json.o \
	lib/mg_mem.o \
	lib/mg_merge.o \
	lib/mg_metrics.o \
	lib/mg_mock.o \
	lib/mg_mock_gen.o \
	lib/mg_mock_key.o \
	lib/mg_mock_req.o \
	lib/mg_mock_sched.o \
	lib/mg_mock_tok.o \
	lib/mg_mt19937.o \
	lib/mg_oci.o \
	lib/mg_perf_cli.o \
	lib/mg_perf_data.o \
	lib/mg_perf_guidellm.o \
	lib/mg_perf_metrics.o \
	lib/mg_perf_osd.o \
	lib/mg_perf_rand.o \
	lib/mg_perf_report.o \
	lib/mg_perf_req.o \
	lib/mg_perf_run.o \
	lib/mg_perf_sched.o \
	lib/mg_perf_sse.o \
	lib/mg_perf_stats.o \
	lib/mg_pickle.o \
	lib/mg_progress.o \
	lib/mg_pv.o \
	lib/mg_record.o \
	lib/mg_regex.o \
	lib/mg_registry.o \
	lib/mg_report.o \
	lib/mg_results.o \
	lib/mg_s3.o \
	lib/mg_safetensors.o \
	lib/mg_sign.o \
	lib/mg_task.o \
	lib/mg_tmpl.o \
	lib/mg_tok_dec.o \
	lib/mg_tok_model.o \
	lib/mg_tok_norm.o \
	lib/mg_tok_pre.o \
	lib/mg_tok_util.o \
	lib/mg_tokenizer.o \
	lib/mg_tokproc.o \
	lib/mg_tokremote.o \
	lib/mg_tree.o \
	lib/mg_verify.o \
	lib/mg_yaml.o

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
UNIT_SRCS = $(sort $(wildcard tests/unit/test_*.c))
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

tests: $(BINS) $(UNIT_BINS) $(O)/tests/mock-registry

# The fake Kubeflow Model Registry the registry-push tests run against.
$(O)/tests/mock-registry: $(O)/tests/fixtures/registry/mock-registry.o $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

check: deps
	@$(MAKE) --no-print-directory tests
	@sh tests/run $(O)

check-unit check-tools check-pipelines: deps
	@$(MAKE) --no-print-directory tests
	@sh tests/run $(O) $(patsubst check-%,%,$@)

check-asan: deps
	@$(MAKE) --no-print-directory O=build-asan SANITIZE=1 tests
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  sh tests/run build-asan

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo.sh $(O)

# A screenshot of the HTML comparison report (the test fixtures: baseline
# against custom data), for reviewers: $(O)/report/report.png.
CHROMIUM ?= chromium
report-screenshot: $(O)/bin/results-merge
	@mkdir -p $(O)/report
	@$(O)/bin/results-merge -q --compare --label baseline --label custom \
	  --html $(O)/report/report.html \
	  tests/fixtures/results-merge/baseline.json \
	  tests/fixtures/results-merge/custom.json >/dev/null
	@prof=$$(mktemp -d) && \
	  $(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-quic \
	    --no-first-run --disable-background-networking \
	    --disable-component-update --disable-sync --user-data-dir=$$prof \
	    --screenshot=$(abspath $(O))/report/report.png \
	    --window-size=1280,4900 \
	    file://$(abspath $(O))/report/report.html >/dev/null 2>&1; \
	  rc=$$?; rm -rf $$prof; test $$rc -eq 0
	@echo "report: $(O)/report/report.html"
	@echo "screenshot: $(O)/report/report.png"

bench: all
	@for b in bench/*; do [ -x "$$b" ] && "$$b" $(O); done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin

format:
	clang-format -i lib/*.c lib/*.h tools/*.c tests/unit/*.c

format-check:
	clang-format --dry-run --Werror lib/*.c lib/*.h tools/*.c tests/unit/*.c

lint: format-check
	@! grep -nE '\b(strcpy|strcat|strncpy|strncat|sprintf|vsprintf|strtok|atoi|atol|gets|gmtime|localtime|ctime|asctime)\(' \
	  lib/*.c tools/*.c | grep -v 'MG_BANNED'

clean:
	rm -rf build build-asan

.PHONY: all bench check check-asan check-pipelines check-tools check-unit \
        clean demo deps format format-check install lint report-screenshot \
        tests
.SECONDARY:

-include $(shell find $(O) -name '*.d' 2>/dev/null)

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
	lib/mg_buf.o \
	lib/mg_cli.o \
	lib/mg_digest.o \
	lib/mg_err.o \
	lib/mg_io.o \
	lib/mg_json.o \
	lib/mg_mem.o \
	lib/mg_record.o

TOOLS = \
	mock-llm

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

tests: $(BINS) $(UNIT_BINS)

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
        clean demo deps format format-check install lint tests
.SECONDARY:

-include $(shell find $(O) -name '*.d' 2>/dev/null)

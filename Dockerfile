# syntax=docker/dockerfile:1
# The EMNIST model server as an image, in two targets over one base:
#   slim  the onnxruntime engine (the version's model.onnx), no TensorFlow
#   full  the tensorflow engine (the SavedModel, TF Serving's own runtime)
# One image, three roles chosen by its command (webapp/container_entrypoint.py): the model server (REST and
# the page on 8000, gRPC on 8500; the default), `front-end` (the page and the APIs before remote model
# servers, EMNIST_MODEL_SERVER) and `serve` (Amazon SageMaker: /ping and /invocations on 8080).
# docs/containers.md has the commands; the pip configuration of the machine is handed in at build time
# (container/pip_build_config.py), never stored in a layer.
ARG BASE_IMAGE=python:3.11-slim

# --- build stages: a venv with the serving dependencies, the code, trimmed ------------------------------
FROM ${BASE_IMAGE} AS build-tools
USER root
# tini, Debian's static build: PID 1 of the runtime, forwarding signals and reaping orphans. binutils: strip,
# for the build stages only (container/prepare_runtime.sh strips the packages' shared objects).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini binutils \
 && rm -rf /var/lib/apt/lists/*
# A venv whichever the base: python:3.11-slim's python or Debian's python3 (python3-venv).
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CONFIG_FILE=/run/secrets/pip.conf
WORKDIR /app
COPY pyproject.toml requirements.txt ./
COPY container/extra_requirements.py container/

FROM build-tools AS deps-slim
# The serve extra at requirements.txt's pins; no bytecode yet (only what serving imports gets compiled).
RUN --mount=type=secret,id=pip.conf \
    pip install --no-compile -c requirements.txt $(python3 container/extra_requirements.py serve)

FROM deps-slim AS deps-full
# serve-tf is serve plus TensorFlow: only TensorFlow and what it needs are added.
RUN --mount=type=secret,id=pip.conf \
    pip install --no-compile -c requirements.txt $(python3 container/extra_requirements.py serve-tf)

FROM deps-slim AS app-slim
ARG ENGINE=onnxruntime
COPY container/prepare_runtime.sh container/byte_compile_serving.py container/
COPY LICENSE pyproject.toml ./
COPY emnist_contract emnist_contract
COPY serving_core serving_core
COPY webapp webapp
COPY tf_serving_protos tf_serving_protos
COPY templates templates
COPY static static
COPY models/emnist /models/emnist
RUN sh container/prepare_runtime.sh /opt/venv /models/emnist \
 && EMNIST_ENGINE=${ENGINE} python3 container/byte_compile_serving.py /models \
 && rm -r container requirements.txt

FROM deps-full AS app-full
ARG ENGINE=tensorflow
COPY container/prepare_runtime.sh container/byte_compile_serving.py container/
COPY LICENSE pyproject.toml ./
COPY emnist_contract emnist_contract
COPY serving_core serving_core
COPY webapp webapp
COPY tf_serving_protos tf_serving_protos
COPY templates templates
COPY static static
COPY models/emnist /models/emnist
RUN sh container/prepare_runtime.sh /opt/venv /models/emnist \
 && EMNIST_ENGINE=${ENGINE} python3 container/byte_compile_serving.py /models \
 && rm -r container requirements.txt

# The runtime's user: not root, uid/gid 10001 (deploy/kubernetes's securityContext names the same); the
# models are read-only to it. Made here and copied, so that the runtime stage runs nothing: a build's
# --volume mounts (the machine's pip folders) leave empty mount points in the layer of every RUN step.
FROM ${BASE_IMAGE} AS users
USER root
RUN groupadd --system --gid 10001 emnist \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin emnist \
 && mkdir -p /opt/ml/model

# --- runtime: the base, tini, the user, the venv and the code -------------------------------------------
FROM ${BASE_IMAGE} AS runtime
USER root
COPY --from=build-tools /usr/bin/tini-static /usr/bin/tini
COPY --from=users /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/
COPY --from=users /opt/ml /opt/ml
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODEL_NAME=emnist \
    MODEL_BASE_PATH=/models \
    GUNICORN_BIND=0.0.0.0:8000 \
    EMNIST_GRPC_HOST=0.0.0.0 \
    EMNIST_GRPC_PORT=8500
WORKDIR /app
# REST and the page (TF Serving's image: 8501), gRPC (8500 as TF Serving's), SageMaker's `serve` (8080).
EXPOSE 8000 8500 8080
# /readyz of the model server and front end (/ping of `serve`): healthy once the model answers.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/venv/bin/python", "-m", "webapp.container_healthcheck"]
USER 10001:10001
# Exec form: tini is PID 1, the entrypoint execs the launcher, so SIGTERM reaches the server itself. env
# (coreutils) sets SIGHUP to ignored and execs tini, whose child inherits it: a SIGHUP that arrives before the
# launcher has installed its reload handler (Python still starting) is dropped instead of ending the server.
# tini still receives SIGHUP (it blocks every signal and waits for them) and passes it on.
ENTRYPOINT ["/usr/bin/env", "--ignore-signal=HUP", "/usr/bin/tini", "--", \
            "/opt/venv/bin/python", "-m", "webapp.container_entrypoint"]
CMD ["model-server"]

FROM runtime AS full
ENV EMNIST_ENGINE=tensorflow
COPY --from=app-full /opt/venv /opt/venv
COPY --from=app-full /app /app
COPY --from=app-full /models /models

FROM runtime AS slim
ENV EMNIST_ENGINE=onnxruntime
COPY --from=app-slim /opt/venv /opt/venv
COPY --from=app-slim /app /app
COPY --from=app-slim /models /models

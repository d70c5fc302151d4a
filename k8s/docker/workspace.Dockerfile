# syntax=docker/dockerfile:1
# The image of every workspace pod: Python 3.11 with numpy, pandas and scipy, bash, and
# pod-agent as the main process, all as the unprivileged user "sandbox" (uid/gid 1000).
# Build from the repository root:
#   docker build -f k8s/docker/workspace.Dockerfile -t code-exec/workspace:0.1.0 .

# --- build pod-agent -----------------------------------------------------------------------
# Same Debian release as the runtime stage below, so the binary's glibc matches.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN rm -f rust-toolchain.toml \
    && cargo build --release --locked -p pod-agent \
    && cp target/release/pod-agent /pod-agent

# --- runtime -------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
COPY k8s/docker/workspace-requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --no-compile -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt \
    && groupadd --gid 1000 sandbox \
    && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/sandbox --shell /bin/bash sandbox \
    && mkdir -p /workspace /run/pod-agent \
    && chown sandbox:sandbox /workspace /run/pod-agent
COPY --from=build /pod-agent /usr/local/bin/pod-agent
ENV HOME=/home/sandbox \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
USER 1000:1000
WORKDIR /workspace
ENTRYPOINT ["/usr/local/bin/pod-agent"]
CMD ["daemon", "--workspace", "/workspace", "--socket", "/run/pod-agent/agent.sock"]

# syntax=docker/dockerfile:1
# The terminal-bridge image (it carries pod-agent too, for tools that want both binaries).
# Build from the repository root:
#   docker build -f k8s/docker/terminal-bridge.Dockerfile -t code-exec/terminal-bridge:0.1.0 .

# --- build ---------------------------------------------------------------------------------
# The workspace's rust-version; rust-toolchain.toml ("stable" plus the wasm target, for
# development) is removed so the image's toolchain is used and nothing more is downloaded.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN rm -f rust-toolchain.toml \
    && cargo build --release --locked -p terminal-bridge -p pod-agent \
    && mkdir -p /out \
    && cp target/release/terminal-bridge target/release/pod-agent /out/

# --- runtime -------------------------------------------------------------------------------
# glibc and libgcc, no shell, no package manager; runs as uid/gid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/terminal-bridge /out/pod-agent /usr/local/bin/
USER 65532:65532
EXPOSE 8001
ENV BRIDGE_LISTEN=0.0.0.0:8001
ENTRYPOINT ["/usr/local/bin/terminal-bridge"]
CMD ["serve"]

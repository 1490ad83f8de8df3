# syntax=docker/dockerfile:1
#
# The stsguard image: one binary on distroless, running as a numeric non-root user.
#
#   docker build -t ghcr.io/example/stsguard:0.1.0 .
#
# deploy/base/kustomization.yaml names the image (`images:`); push under that name or change it.

# Build on the same Debian release as the runtime image, so the binary's glibc matches.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the crate registry and the target directory between builds; the binary is
# copied out because the target directory is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin stsguard \
    && install -D -m 0755 target/release/stsguard /out/stsguard

# C runtime only (ring links libc), no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/stsguard /stsguard
# Numeric, so the kubelet can check runAsNonRoot without looking the name up.
USER 65532:65532
# 8443: HTTPS admission webhooks. 8080: /healthz, /readyz, /metrics.
EXPOSE 8443 8080
ENTRYPOINT ["/stsguard"]
CMD ["serve"]

# coze-chat-proxy: one executable on a distroless glibc base.
#
# The binary links only glibc (ldd: libc, libm, libpthread, libdl, the
# loader), so the final stage is distroless base-nossl: glibc, CA roots,
# /etc/passwd for the nonroot user, no shell, no package manager. Bun brings
# its own TLS, so "nossl" loses nothing. test/binary.test.ts runs the binary
# chrooted in a root filesystem of exactly the binary and those libraries.
#
# Multi-arch without emulation: the build stage runs on the build machine's
# platform and cross-compiles for the target with bun build --target.
#   docker buildx build --platform linux/amd64,linux/arm64 -t coze-chat-proxy .

FROM --platform=$BUILDPLATFORM oven/bun:1.4.5 AS build
ARG TARGETARCH
WORKDIR /src
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile --production
COPY index.ts ./
COPY lib ./lib
COPY scripts/build.ts ./scripts/
RUN target=$([ "$TARGETARCH" = "arm64" ] && echo bun-linux-arm64 || echo bun-linux-x64) && \
    bun scripts/build.ts --target="$target" --outfile /out/coze-chat-proxy && \
    mkdir -p /out/data

FROM gcr.io/distroless/base-nossl-debian12:nonroot
WORKDIR /app
COPY --from=build /out/coze-chat-proxy /app/coze-chat-proxy
COPY --from=build --chown=nonroot:nonroot /out/data /app/data
# The store (conversations, threads, rests) lives on the volume beside bot.json.
ENV BOT_CONFIG=/app/data/bot.json DATA_DIR=/app/data SERVER_PORT=8080
VOLUME ["/app/data"]
EXPOSE 8080
USER nonroot
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/app/coze-chat-proxy", "--healthcheck"]
ENTRYPOINT ["/app/coze-chat-proxy"]

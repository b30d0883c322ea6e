# Build: compile the service into one executable.
FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile --production
COPY index.ts ./
COPY lib ./lib
RUN bun build --compile --minify index.ts --outfile /out/coze-chat-proxy

# Run: the executable and the C++ runtime it links against, nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build /out/coze-chat-proxy /app/coze-chat-proxy
ENV BOT_CONFIG=/app/data/bot.json SERVER_PORT=8080
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD ["/app/coze-chat-proxy", "--healthcheck"]
ENTRYPOINT ["/app/coze-chat-proxy"]

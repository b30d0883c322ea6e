import type { Server } from "bun";
import { log } from "../log.ts";
import { speech } from "./audio.ts";
import { audioModels, audioVoices } from "./audio-lists.ts";
import { MAX_TRANSCRIPTION_BODY, transcriptions } from "./audio-transcriptions.ts";
import { chatCompletions } from "./chat.ts";
import type { AppContext, RouteHandler } from "./context.ts";
import { imageGenerations } from "./images.ts";
import { createResponse } from "./responses.ts";
import { getModel, listModels } from "./models.ts";
import { healthz, login, logout, readyz, root } from "./status.ts";
import { storedImage } from "./stored-images.ts";
import { invalidApiKey, methodNotAllowed, routeNotFound, toApiError } from "../openai/api-error.ts";
import { readJsonBody } from "../http/json-body.ts";
import { readBodyBytes } from "../http/body-bytes.ts";
import { createKeyCheck, SESSION_COOKIE } from "../http/auth.ts";
import { corsHeaders, preflight } from "../http/cors.ts";
import { errorStack } from "../error-text.ts";

/** Handlers by HTTP method; `*` answers any method. */
type Methods = Partial<Record<"GET" | "POST" | "*", RouteHandler>>;
interface RouteOptions {
  /** The route as metrics label it; never the raw path, which a client chooses. */
  name: string;
  /** `/v1/*` routes need an API key. */
  auth: boolean;
  /** Relay routes may wait minutes for Coze: Bun's idle timer must not cut them. */
  longWait?: boolean;
  /** The body is an upload read as bytes, up to this many, instead of JSON within MAX_BODY_SIZE. */
  uploadLimit?: number;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** Logged (and counted) for requests whose client disconnected first, as nginx does. */
const CLIENT_CLOSED = 499;

/** The path of a request URL without building a URL object (Bun's `req.url` is always absolute). */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const end = url.indexOf("?", start);
  return start === -1 ? "/" : url.slice(start, end === -1 ? undefined : end);
}

const noop = () => {};

/**
 * Copies of an upload held at once: the body, the parsed form, the file's
 * own bytes, and what is sent on to Coze (a converted recording, the
 * multipart body).
 */
const UPLOAD_COPIES = 4;

/** An upload's worst case in memory: its declared length (the limit when it declares none), in all its copies. */
function uploadReservation(req: Request, limit: number): number {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  return (Number.isFinite(declared) && declared >= 0 ? Math.min(declared, limit) : limit) * UPLOAD_COPIES;
}

/** Starts the HTTP API on `Bun.serve` and its `routes`. */
export function startServer(ctx: AppContext): Server<unknown> {
  const keyCheck = createKeyCheck(ctx.settings.authTokens);

  const route = (methods: Methods, options: RouteOptions) =>
    async (req: Request, server: Server<unknown>): Promise<Response> => {
      const started = performance.now();
      const incoming = req.headers.get("x-request-id");
      const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
      const receivedAt = Date.now();
      let response: Response;
      let endSlot = noop;
      // What the request holds until it ends (its images' memory) is let go with its in-flight slot.
      // Most requests hold nothing: the list is made by the first holding.
      let holdings: (() => void)[] | undefined;
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        endSlot();
        if (holdings) for (const release of holdings) release();
        holdings = undefined;
      };
      const atEnd = (release: () => void) => (ended ? release() : (holdings ??= []).push(release));
      try {
        const handler = methods[req.method as keyof Methods] ?? methods["*"];
        if (req.method === "OPTIONS") response = preflight(req);
        else if ((options.auth || (options.name === "/metrics" && ctx.settings.metricsAuth)) && !keyCheck(req.headers.get("authorization"))) throw invalidApiKey();
        else if (!handler) throw methodNotAllowed(req.method, pathOf(req.url));
        else if (options.longWait) {
          // A relayed request holds its in-flight slot from the first byte: a client that never finishes
          // its body counts toward MAX_IN_FLIGHT, and gets a 408 after BODY_TIMEOUT.
          const work = ctx.inFlight.begin(req.signal);
          endSlot = work.end;
          if (options.uploadLimit) {
            // An upload is held in several copies until the request ends: its worst case is reserved in the
            // input memory before the body is read, waiting for room within the start deadline (then a 503).
            const lease = await ctx.inputMemory.reserve(uploadReservation(req, options.uploadLimit), receivedAt + ctx.settings.replyStartTimeoutMs, work.signal);
            atEnd(() => lease.release());
          }
          const body = options.uploadLimit
            ? await readBodyBytes(req, options.uploadLimit, ctx.settings.bodyTimeoutMs)
            : await readJsonBody(req, ctx.settings.maxBodyBytes, ctx.settings.bodyTimeoutMs);
          // Only now may the wait for Coze begin, with Bun's idle timer off.
          server.timeout(req, 0);
          response = await handler(req, ctx, { requestId, server, signal: work.signal, receivedAt, body, end, atEnd, authorized: true });
        } else {
          const cookie = req.headers.get("cookie");
          const authorized = options.auth || keyCheck(req.headers.get("authorization")) || (cookie?.includes(SESSION_COOKIE) === true && (await ctx.sessions.check(cookie)));
          response = await handler(req, ctx, { requestId, server, signal: req.signal, receivedAt, end, atEnd, authorized });
          end();
        }
      } catch (error) {
        end();
        if (req.signal.aborted) {
          // The client went away: nobody reads this answer, and it is no fault of the service.
          response = new Response(null, { status: CLIENT_CLOSED });
        } else {
          response = toApiError(error).response();
          if (response.status === 500) log.error("request failed", { request: requestId, error: errorStack(error) });
        }
      }
      for (const name in corsHeaders) response.headers.set(name, corsHeaders[name]);
      response.headers.set("x-request-id", requestId);
      ctx.metrics.requests.inc({ route: options.name, status: response.status });
      log.info("request", {
        method: req.method,
        path: pathOf(req.url),
        status: response.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        request: requestId,
      });
      return response;
    };

  const open = (name: string) => ({ name, auth: false });
  const api = (name: string) => ({ name, auth: true });
  const relayed = (name: string) => ({ name, auth: true, longWait: true });
  const notFound = route({ "*": (req) => Promise.reject(routeNotFound(req.method, pathOf(req.url))) }, open("unknown"));
  const metrics: RouteHandler = () => new Response(ctx.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });

  return Bun.serve({
    hostname: ctx.settings.host,
    port: ctx.settings.port,
    // Room for a JSON body of maxBodyBytes and an audio upload; each route itself answers 413 in OpenAI's shape.
    maxRequestBodySize: Math.max(ctx.settings.maxBodyBytes, MAX_TRANSCRIPTION_BODY) + 2 * 1024 * 1024,
    idleTimeout: ctx.settings.idleTimeoutSeconds,
    routes: {
      "/": route({ GET: root }, open("/")),
      "/healthz": route({ GET: healthz }, open("/healthz")),
      "/readyz": route({ GET: readyz }, open("/readyz")),
      "/login": route({ POST: login }, open("/login")),
      "/logout": route({ POST: logout }, open("/logout")),
      "/metrics": route({ GET: metrics }, open("/metrics")),
      "/images/*": route({ GET: storedImage }, open("/images/{id}")),
      "/v1/models": route({ GET: listModels }, api("/v1/models")),
      "/v1/models/*": route({ GET: getModel }, api("/v1/models/{id}")),
      "/v1/chat/completions": route({ POST: chatCompletions }, relayed("/v1/chat/completions")),
      "/v1/images/generations": route({ POST: imageGenerations }, relayed("/v1/images/generations")),
      "/v1/responses": route({ POST: createResponse }, relayed("/v1/responses")),
      "/v1/audio/speech": route({ POST: speech }, relayed("/v1/audio/speech")),
      "/v1/audio/transcriptions": route({ POST: transcriptions }, { ...relayed("/v1/audio/transcriptions"), uploadLimit: MAX_TRANSCRIPTION_BODY }),
      // Open WebUI lists these without a key.
      "/v1/audio/voices": route({ GET: audioVoices }, open("/v1/audio/voices")),
      "/v1/audio/models": route({ GET: audioModels }, open("/v1/audio/models")),
    },
    fetch: notFound,
    error: (error) => {
      log.error("unhandled server error", { error: errorStack(error) });
      return toApiError(error).response();
    },
  });
}

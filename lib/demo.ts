import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BotEntry, WorkspaceEntry } from "./config/bots.ts";
import { CozeApiSimulator } from "./simulator/coze-api.ts";
import { buildScenario } from "./simulator/scenario.ts";
import { DiscordSimulator } from "./simulator/simulator.ts";

export const DEMO_CHAT_MODEL = "coze-demo";
export const DEMO_IMAGE_MODEL = "coze-demo-image";
export const DEMO_API_MODEL = "coze-demo-api";
export const DEMO_CHATFLOW_MODEL = "coze-demo-chatflow";
/** The bots of the demo's simulated workspace, and the models their names give. */
export const DEMO_WORKSPACE_BOTS = ["Travel Planner", "翻译助手"];
export const DEMO_WORKSPACE_MODEL = "travel-planner";

/**
 * `--demo`: a Discord simulator in-process on loopback, with one of our bots,
 * two simulated Coze bots (chat and images) and a channel each, and a
 * simulated Coze API with one bot (and its voices), one chatflow and a workspace of two more
 * bots (served as the models their names give); returns the `bot.json`
 * entries that point the service at them.
 */
export function startDemoDiscord(): { simulator: DiscordSimulator; api: CozeApiSimulator; entries: BotEntry[]; workspaces: WorkspaceEntry[] } {
  const simulator = new DiscordSimulator({ recordLimit: 200 }).start();
  const world = buildScenario(simulator, {
    bots: [{ username: "coze-chat-proxy" }],
    entries: [{ model: DEMO_CHAT_MODEL, coze: 0 }, { model: DEMO_IMAGE_MODEL, coze: 1 }],
    guildName: "demo",
  });
  const [chat, images] = world.cozes;
  // A long demo answer should not sit out REPLY_QUIET between its pieces.
  chat.continueButtons = true;
  images.behaviour = (prompt) => ({ text: `Here is a picture of ${JSON.stringify(prompt.slice(0, 200))}.`, image: "embed", steps: 2 });
  const api = new CozeApiSimulator().start();
  const apiBot = api.addBot();
  const token = api.addToken();
  // Open WebUI asks for `alloy` by default: the demo maps it to one of the simulated Coze voices.
  const voices = { alloy: api.audio.voices[0].voice_id };
  const apiEntry: BotEntry = { kind: "api", index: world.entries.length, model: DEMO_API_MODEL, coze_api_token: token, bot_id: apiBot.id, api_base: api.url, voices };
  const chatflow: BotEntry = { kind: "api", index: world.entries.length + 1, model: DEMO_CHATFLOW_MODEL, coze_api_token: token, workflow_id: api.addWorkflow().id, api_base: api.url };
  const workspaceId = api.workspaces.addWorkspace(api.tokens.get(token)!);
  for (const name of DEMO_WORKSPACE_BOTS) api.workspaces.addBot(workspaceId, name);
  const workspace: WorkspaceEntry = { kind: "workspace", index: chatflow.index + 1, coze_api_token: token, workspace_id: workspaceId, api_base: api.url, model_prefix: "" };
  return { simulator, api, entries: [...world.entries.map((e) => ({ kind: "discord" as const, ...e })), apiEntry, chatflow], workspaces: [workspace] };
}

/** The lines `--demo` prints: commands that work when pasted into another terminal. */
export function demoInstructions(base: string, key: string): string {
  const auth = `-H "Authorization: Bearer ${key}"`;
  return [
    "",
    "coze-chat-proxy demo: a simulated Discord with simulated Coze bots runs in this process.",
    `OpenAI base URL: ${base}/v1    API key: ${key}`,
    "",
    "Try, in another terminal:",
    `  curl -s ${base}/v1/models ${auth}`,
    `  curl -s ${base}/v1/chat/completions ${auth} -H "Content-Type: application/json" -d '{"model":"${DEMO_CHAT_MODEL}","messages":[{"role":"user","content":"Hello, Coze!"}]}'`,
    `  curl -N ${base}/v1/chat/completions ${auth} -H "Content-Type: application/json" -d '{"model":"${DEMO_CHAT_MODEL}","stream":true,"messages":[{"role":"user","content":"Stream me a long reply"}]}'`,
    "",
    `  curl -s ${base}/v1/images/generations ${auth} -H "Content-Type: application/json" -d '{"model":"${DEMO_IMAGE_MODEL}","prompt":"a red fox in the snow"}'`,
    "",
    "Through Coze's official API instead of Discord (a simulated one), with Coze's own token counts:",
    `  curl -s ${base}/v1/chat/completions ${auth} -H "Content-Type: application/json" -d '{"model":"${DEMO_API_MODEL}","messages":[{"role":"user","content":"Hello over the API"}]}'`,
    "",
    `A workspace's published bots, found by themselves (${DEMO_WORKSPACE_BOTS.map((n) => JSON.stringify(n)).join(", ")}): each is a model named after it:`,
    `  curl -s ${base}/v1/chat/completions ${auth} -H "Content-Type: application/json" -d '{"model":"${DEMO_WORKSPACE_MODEL}","messages":[{"role":"user","content":"Plan a weekend in Kyoto"}]}'`,
    "",
    "A conversation: each one is a Discord thread of its own, and Coze remembers what was said in it:",
    `  curl -s ${base}/v1/chat/completions ${auth} -H "Content-Type: application/json" -H "X-Conversation-Id: demo-1" -d '{"model":"${DEMO_CHAT_MODEL}","messages":[{"role":"user","content":"My name is Ann."}]}'`,
    `  curl -s ${base}/v1/chat/completions ${auth} -H "Content-Type: application/json" -H "X-Conversation-Id: demo-1" -d '{"model":"${DEMO_CHAT_MODEL}","messages":[{"role":"user","content":"What did I tell you first?"}]}'`,
    "",
    "A Coze chatflow as a model, function calling, and JSON mode (the simulated Coze follows what the service asks of it):",
    `  curl -s ${base}/v1/chat/completions ${auth} -H "Content-Type: application/json" -d '{"model":"${DEMO_CHATFLOW_MODEL}","messages":[{"role":"user","content":"Hello, chatflow"}]}'`,
    `  curl -s ${base}/v1/chat/completions ${auth} -H "Content-Type: application/json" -d '{"model":"${DEMO_API_MODEL}","messages":[{"role":"user","content":"What is the weather in Paris?"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"The weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}'`,
    `  curl -s ${base}/v1/chat/completions ${auth} -H "Content-Type: application/json" -d '{"model":"${DEMO_CHAT_MODEL}","messages":[{"role":"user","content":"Describe Oslo"}],"response_format":{"type":"json_object"}}'`,
    "",
    "Voice, through the API entry (OpenAI's audio routes; Open WebUI's defaults tts-1 and alloy work as they are):",
    `  curl -s ${base}/v1/audio/speech ${auth} -H "Content-Type: application/json" -d '{"model":"tts-1","input":"Hello from Coze","voice":"alloy"}' -o speech.mp3`,
    `  curl -s ${base}/v1/audio/transcriptions ${auth} -F file=@speech.mp3 -F model=whisper-1`,
    "",
    "With the openai SDK (Node):",
    `  new OpenAI({ baseURL: "${base}/v1", apiKey: "${key}" })`,
    "",
    "Say 'long reply' for an answer Coze writes in several 2000-character pieces, 'coze error' for a Coze error, 'draw …' for an image;",
    "over the API, 'think' for reasoning_content, 'coze code 4010' (or another of Coze's codes) for that error, 'ignore instructions' for a bot that ignores tools and JSON.",
    "",
  ].join("\n");
}

/** A fresh temporary DATA_DIR for a demo run; ./data where the system has no temporary directory (a bare container). */
export function demoDataDir(): string {
  try {
    return mkdtempSync(join(tmpdir(), "coze-chat-proxy-demo-"));
  } catch {
    return "./data";
  }
}

/**
 * The shapes the Coze API simulator shares between its files: how a
 * simulated bot or chatflow answers, what it stores, what tests read back,
 * and the codes and messages Coze and Coze Studio answer with.
 */

/**
 * Which server the simulator is: Coze's hosted API (coze.com, coze.cn), or a
 * self-hosted Coze Studio, whose server writes the same OpenAPI differently
 * (its end event, its errors, its chatflow route).
 */
export type ApiDialect = "coze" | "studio";

/** How the simulated bot or chatflow answers one chat. Every field is optional. */
export interface ApiScript {
  /** The answer; several strings are several `answer` messages (as a workflow writes them). */
  text?: string | string[];
  /** Reasoning content (a reasoning model's thinking), in deltas of its own before the answer. */
  reasoning?: string;
  /** How many deltas each answer comes in. */
  deltas?: number;
  /** Delay before the first message event, and between events, ms. */
  firstDelayMs?: number;
  intervalMs?: number;
  /** `follow_up` suggestions after the answer (default two). */
  followUps?: string[];
  /** A markdown image at the end of the answer: on the simulator's CDN, or (Studio) a presigned link on its object store's host. */
  image?: boolean | { host: string };
  /** Before any event: an HTTP status with Coze's envelope (e.g. 429), or HTTP 200 with `{code≠0}`. */
  refuse?: { status: number; code: number; msg: string; retryAfter?: number };
  /** In the stream, after `chat.created`: the run fails with this error (coze.com: `conversation.chat.failed`; Studio: an `error` event). */
  fail?: { code: number; msg: string };
  /** In the stream: an `error` event. */
  streamError?: { code: number; msg: string };
  /** `conversation.chat.requires_action`: the bot waits for tool output. */
  requiresAction?: boolean;
  /** `chat.created` and `in_progress`, then nothing until cancelled or the client leaves. */
  silent?: boolean;
  /**
   * The connection closes early: right after `conversation.chat.completed`
   * (no end event: a stream that is complete all the same), or in the middle
   * of the answer, before `completed` (a broken one).
   */
  cut?: "after-completed" | "before-completed";
  /** Told as each delta (numbered from 0 across the chat) is written: the bench times chunks from it. */
  onDelta?: (index: number) => void;
}

export interface ApiBot {
  id: string;
  published: boolean;
  queue: ApiScript[];
  /** The default answer: it sees the user's last text and the conversation so far. */
  behaviour: (prompt: string, history: StoredMessage[]) => ApiScript;
}

/** A chatflow (a workflow made for chat), answering through `/v1/workflows/chat`. */
export interface ApiWorkflow {
  id: string;
  published: boolean;
  /** The app it belongs to (Studio: conversations by name are kept per app). */
  appId?: string;
  queue: ApiScript[];
  behaviour: (prompt: string, history: StoredMessage[]) => ApiScript;
}

export interface StoredMessage {
  role: "user" | "assistant";
  type: string;
  content: string;
  content_type: string;
}

/** One chat (`/v3/chat` or `/v1/workflows/chat`) as it arrived, for tests. */
export interface ChatRecord {
  token: string;
  /** The bot answering (for a chatflow: the bot it runs as, if one was named). */
  botId: string;
  /** The chatflow that ran, for `/v1/workflows/chat`. */
  workflowId?: string;
  /** A chatflow's `parameters` as sent. */
  parameters?: Record<string, unknown>;
  /** Whether the request said `"stream": true`. */
  stream: boolean;
  userId: string;
  conversationId: string;
  /** Whether the conversation existed before this chat (a continued one). */
  continued: boolean;
  additional: StoredMessage[];
  chatId: string;
  usage?: { token_count: number; output_count: number; input_count: number };
  cancelled: boolean;
  answer: string;
}

export interface Conversation {
  id: string;
  account: string;
  messages: StoredMessage[];
  /** The chat in progress, if any: Coze answers 4016 to a second one. */
  busy: string | undefined;
}

/** What a route of the simulator works with: its state, and how it refuses and answers a chat. */
export interface ApiServer {
  readonly dialect: ApiDialect;
  readonly workflows: Map<string, ApiWorkflow>;
  readonly conversations: Map<string, Conversation>;
  readonly namedConversations: Map<string, string>;
  readonly files: Map<string, { account: string }>;
  busyRefusals: number;
  newConversation(account: string): Conversation;
  error(error: { code: number; msg: string }, status?: number): Response;
  run(script: ApiScript, record: ChatRecord, conversation: Conversation, how: { route: "chat" | "workflow"; botId: string; signal: AbortSignal }): Response | Promise<Response>;
}

/** Coze's codes (the official SDK and Coze's published code list), with the simulator's wording of each. */
export const COZE_CODES = {
  badParam: { code: 4000, msg: "Request parameter error" },
  botNotFound: { code: 4006, msg: "The bot does not exist." },
  promptTooLong: { code: 4010, msg: "The input is longer than the model's context length." },
  notPublished: { code: 4015, msg: "The bot_id has not been published to the channel Agent As API." },
  busy: { code: 4016, msg: "Conversation occupied: another chat in this conversation is in progress." },
  arrears: { code: 4027, msg: "Your account is in arrears: top it up to go on." },
  noCredits: { code: 4028, msg: "Your account has run out of credits." },
  auth: { code: 4100, msg: "authentication is invalid" },
  notFound: { code: 4200, msg: "Resource not found." },
  fileType: { code: 4300, msg: "The file type is not supported." },
  fileSize: { code: 4301, msg: "The file is too large." },
  fileDownload: { code: 4302, msg: "The file could not be downloaded." },
  fileUnreadable: { code: 4303, msg: "The file could not be read." },
  fileExpired: { code: 4304, msg: "The file has expired." },
  internal: { code: 5000, msg: "Internal server error." },
} as const;

/** The codes a prompt may ask the simulated Coze to answer with ("coze code 4010"), for tests and the demo. */
export const CODE_BY_NUMBER: ReadonlyMap<number, { code: number; msg: string }> = new Map(Object.values(COZE_CODES).map((c) => [c.code, c]));

/**
 * Coze Studio's codes (its `backend/types/errno`) and how its errorx
 * package words them: `Error()` is `code=N message=…` and a stack trace,
 * which is what Studio puts in an `error` event's `msg` when it wraps one.
 */
export const STUDIO = {
  authFailed: 700012006,
  agentInvalidParam: 100000000,
  conversationInvalidParam: 103000000,
  conversationPermission: 103000001,
  agentRunError: 103100001,
  workflowOperationFail: 777777775,
  workflowNotPublished: 720702011,
  workflowNotFound: 720702004,
  /** Studio's API connector: a bot is published to it or not. */
  apiConnector: 1024,
} as const;

/** An error as Studio's errorx writes it with `Error()`: its code, message and (here, one line of) stack. */
export function studioErrorText(code: number, message: string, where = "conversation.(*OpenapiAgentRunApplication).OpenapiAgentRun"): string {
  return `code=${code} message=${message}\nstack=/app/backend/application/conversation/openapi_agent_run.go:60 ${where}\n`;
}

let ids = 7_400_000_000_000_000_000n;
/** A 19-digit id, as Coze's are: always a JSON string, never a number (it does not fit a double). */
export const nextId = () => String(ids++);

export function parseItems(content: string): { type: string; text?: string; file_id?: string; file_url?: string }[] | undefined {
  try {
    const items = JSON.parse(content);
    return Array.isArray(items) ? items : undefined;
  } catch {
    return undefined;
  }
}

/** The text the user said last, as the bot reads it (an object_string's text item). */
export function lastUserText(messages: StoredMessage[]): string {
  const last = messages.findLast((m) => m.role === "user");
  if (!last) return "";
  if (last.content_type !== "object_string") return last.content;
  return parseItems(last.content)?.find((i) => i.type === "text")?.text ?? "";
}

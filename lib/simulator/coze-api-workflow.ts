import { COZE_CODES, lastUserText, nextId, parseItems, type ApiServer, type ApiWorkflow, type ChatRecord, type Conversation, type StoredMessage } from "./coze-api-types.ts";

/** The body of `POST /v1/workflows/chat`, as the official SDK sends it. */
interface WorkflowChatBody {
  workflow_id?: unknown;
  additional_messages?: StoredMessage[];
  parameters?: unknown;
  app_id?: unknown;
  bot_id?: unknown;
  conversation_id?: unknown;
  ext?: Record<string, string>;
}

/**
 * `POST /v1/workflows/chat`: a chatflow answers in the conversation, with
 * the stream events of `/v3/chat`.
 *
 * coze.com refuses a bad request in its envelope, before any event, as
 * `/v3/chat` does. Studio (its workflow_service.go and chatflow.go) differs:
 * `parameters` is required to hold `CONVERSATION_NAME` when no
 * `conversation_id` is sent (it keeps chatflow conversations by name, per
 * app or bot), and a `conversation_id` sent without `bot_id` must be one of
 * those named conversations. It installs its SSE writer before it runs the
 * chatflow, so anything it refuses after parsing the body (no name, a
 * chatflow unknown or not published, the last message not the user's)
 * leaves an HTTP 200 with an empty body: the JSON error it renders then is
 * never written.
 */
export async function workflowChat(sim: ApiServer, req: Request, token: string, account: string): Promise<Response> {
  const text = await req.text();
  let body: WorkflowChatBody | undefined;
  try {
    body = JSON.parse(text) as WorkflowChatBody;
  } catch (error) {
    if (sim.dialect === "studio") return Response.json({ code: 400, msg: `failed to unmarshal request body: ${(error as Error).message}` }, { status: 400 });
  }
  if (sim.dialect === "studio") return studioChat(sim, body ?? {}, req, token, account);

  const additional = body?.additional_messages;
  if (!body || typeof body.workflow_id !== "string" || !Array.isArray(additional) || additional.length === 0) return sim.error(COZE_CODES.badParam);
  if (body.app_id !== undefined && body.bot_id !== undefined) return sim.error({ code: 4000, msg: "app_id and bot_id cannot both be set" });
  if (body.parameters !== undefined && (typeof body.parameters !== "object" || body.parameters === null)) return sim.error(COZE_CODES.badParam);
  const workflow = sim.workflows.get(body.workflow_id);
  if (!workflow || !workflow.published) return sim.error({ code: 4200, msg: "The workflow does not exist or is not published." });
  if (badMessages(sim, additional, account)) return sim.error(COZE_CODES.badParam);
  let conversation: Conversation | undefined;
  if (body.conversation_id !== undefined) {
    conversation = sim.conversations.get(String(body.conversation_id));
    if (!conversation || conversation.account !== account) return sim.error({ code: 4200, msg: "conversation not found" });
    if (conversation.busy) {
      sim.busyRefusals++;
      return sim.error(COZE_CODES.busy);
    }
  }
  const continued = conversation !== undefined;
  conversation ??= sim.newConversation(account);
  return start(sim, workflow, body, conversation, continued, { token, botId: String(body.bot_id ?? body.app_id ?? ""), signal: req.signal });
}

function studioChat(sim: ApiServer, body: WorkflowChatBody, req: Request, token: string, account: string): Response | Promise<Response> {
  const refused = () => new Response("", { headers: { "content-type": "application/json; charset=utf-8" } });
  const additional = body.additional_messages;
  if (!Array.isArray(additional) || additional.length === 0 || additional.at(-1)?.role !== "user") return refused();
  const parameters = body.parameters ?? {};
  if (typeof parameters !== "object" || parameters === null || Array.isArray(parameters)) return refused();
  const workflow = sim.workflows.get(String(body.workflow_id));
  if (!workflow || !workflow.published) return refused();
  if (body.app_id !== undefined && body.bot_id !== undefined) return refused();
  if (badMessages(sim, additional, account)) return refused();
  // Conversations by name are kept per app or bot (none: "0") and per account.
  const owner = `${account}/${String(body.app_id ?? body.bot_id ?? "0")}/`;
  let conversation: Conversation | undefined;
  let continued = true;
  if (body.conversation_id !== undefined) {
    const id = String(body.conversation_id);
    const named = body.bot_id !== undefined || [...sim.namedConversations].some(([key, value]) => value === id && key.startsWith(owner));
    conversation = named ? sim.conversations.get(id) : undefined;
    if (!conversation || conversation.account !== account) return refused();
  } else {
    const name = (parameters as Record<string, unknown>).CONVERSATION_NAME;
    if (typeof name !== "string") return refused();
    const known = sim.namedConversations.get(owner + name);
    conversation = known ? sim.conversations.get(known) : undefined;
    if (!conversation) {
      continued = false;
      conversation = sim.newConversation(account);
      sim.namedConversations.set(owner + name, conversation.id);
    }
  }
  return start(sim, workflow, body, conversation, continued, { token, botId: String(body.app_id ?? body.bot_id ?? "0"), signal: req.signal });
}

function start(
  sim: ApiServer,
  workflow: ApiWorkflow,
  body: WorkflowChatBody,
  conversation: Conversation,
  continued: boolean,
  how: { token: string; botId: string; signal: AbortSignal },
): Response | Promise<Response> {
  const additional = body.additional_messages!;
  const script = workflow.queue.shift() ?? workflow.behaviour(lastUserText(additional), conversation.messages);
  const record: ChatRecord = {
    token: how.token,
    botId: how.botId,
    workflowId: workflow.id,
    parameters: (body.parameters ?? undefined) as Record<string, unknown> | undefined,
    stream: true,
    userId: body.ext?.user_id ?? "",
    conversationId: conversation.id,
    continued,
    additional,
    chatId: nextId(),
    cancelled: false,
    answer: "",
  };
  return sim.run(script, record, conversation, { route: "workflow", botId: how.botId, signal: how.signal });
}

/** Messages neither server takes: roles other than user and assistant, object_string items that do not parse or name another account's file. */
function badMessages(sim: ApiServer, additional: StoredMessage[], account: string): boolean {
  return additional.some((m) => {
    if ((m.role !== "user" && m.role !== "assistant") || typeof m.content !== "string") return true;
    if (m.content_type !== "object_string") return false;
    const items = parseItems(m.content);
    return !items || items.some((i) => i.type === "image" && !i.file_url && !(i.file_id && sim.files.get(i.file_id)?.account === account));
  });
}

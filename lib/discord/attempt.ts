import { log } from "../log.ts";
import type { Answer, Attempt, ConversationPlace, InputFile } from "../pool/seam.ts";
import type { DiscordChannel } from "./channel.ts";
import { CallLimits } from "./call-limits.ts";
import { continuation, shouldContinue, withoutTrailingDots } from "./continue.ts";
import { PostError } from "./post-error.ts";
import { planPrompt, type PromptPlan } from "./prompt.ts";
import { followReply, type FollowResult } from "./reply-follower.ts";
import { UpstreamFailure } from "../pool/failure.ts";
import { CozeErrorText } from "./coze-errors.ts";

/** Discord refuses a thread name longer than this. */
const THREAD_NAME_LIMIT = 100;
/** Active threads archived to make room when Discord says the guild has too many (160006). */
const THREADS_FREED_ON_LIMIT = 20;

/**
 * One try of a request on a Discord entry: find or start the conversation's
 * thread, post the prompt (the whole fitted history in a new thread, only the
 * new turns in the thread that holds the conversation), follow Coze's reply,
 * and ask Coze to continue while it cut its answer at 2000 characters.
 */
export async function attemptOnDiscord(channel: DiscordChannel, attempt: Attempt): Promise<Answer> {
  // The new thread and the first prompt share these limits; the calls that continue an answer get their own.
  const first = new CallLimits(attempt.request.receivedAt + attempt.timings.replyStartTimeoutMs, attempt.request.signal);
  try {
    return await postAndFollow(channel, attempt, first);
  } finally {
    first.close();
  }
}

async function postAndFollow(channel: DiscordChannel, { request, home, entryKey, emit, timings, places }: Attempt, first: CallLimits): Promise<Answer> {
  const { mention } = channel;
  const limits = () => new CallLimits(Date.now() + timings.replyStartTimeoutMs, request.signal);
  const plan: PromptPlan = planPrompt(home ? request.newTurns : request.history, mention, request.instruction);
  if (plan.dropped > 0) log.debug("prompt fitted to discord", { request: request.requestId, dropped_turns: plan.dropped });
  // Checked before anything is posted, a thread included: a refused prompt leaves nothing behind.
  if (plan.contents.length > channel.maxPosts) throw tooManyPosts(plan.contents.length, channel.maxPosts);
  let place: ConversationPlace | undefined = home;
  if (!home && channel.entry.threads) {
    channel.mayPostAll(undefined, plan.contents.length, first);
    place = { entryKey, conversationId: await startThread(channel, places, entryKey, request.title, first) };
  }
  const channelId = place?.conversationId ?? channel.entry.channel_id;
  if (place) void places.touch(place);

  const follow = async (promptContents: string[], files: InputFile[], callLimits: CallLimits, prefix: string, last: boolean) => {
    let promptId: string;
    try {
      promptId = await channel.post(channelId, promptContents, files, callLimits);
    } finally {
      // The post was the last call made under these limits: a reply is followed by its own clock.
      callLimits.close();
    }
    request.signal.throwIfAborted();
    return followReply((listener) => channel.follow(promptId, channelId, listener), {
      cozeBotId: channel.entry.coze_bot_id,
      startTimeoutMs: timings.replyStartTimeoutMs,
      quietMs: timings.replyQuietMs,
      totalTimeoutMs: timings.replyTimeoutMs,
      wantImage: request.wantImage,
      quietHeld: () => channel.connection.state !== "ready",
      // While Coze may still be asked to go on, a trailing ellipsis is held back: it is not part of the answer.
      onText: (text) => emit(prefix + (last ? text : withoutTrailingDots(text))),
      signal: request.signal,
    });
  };

  let result: FollowResult;
  try {
    result = await follow(plan.contents, request.files, first, "", timings.autoContinue === 0);
  } catch (error) {
    // A quota text may be Coze repeating what the prompt asked for: if the entry's probe says so, it is the answer.
    if (error instanceof CozeErrorText && error.kind === "quota-text") {
      error.heldAnswer = { text: error.cozeText, images: [], finishReason: "stop", place, promptText: plan.text };
    }
    throw error;
  }
  let text = result.text;
  const images = [...result.images];
  for (let round = 1; round <= timings.autoContinue && shouldContinue(result); round++) {
    const prefix = continuation(text);
    log.debug("coze cut its answer at 2000 characters; asking it to continue", { request: request.requestId, round });
    result = await follow([`${mention} continue`], [], limits(), prefix, round === timings.autoContinue);
    text = prefix + result.text;
    for (const url of result.images) if (!images.includes(url)) images.push(url);
  }
  return { text, images, finishReason: result.finishReason, place, promptText: plan.text };
}

/** The prompt's new turns would take more Discord messages than PROMPT_MAX_POSTS allows: nothing is posted. */
const tooManyPosts = (count: number, max: number) =>
  new UpstreamFailure(
    "too-long",
    `The new messages of this request would take ${count} Discord messages of 2000 characters; PROMPT_MAX_POSTS allows ${max}. Shorten the message, or send it in several turns.`,
    { openaiCode: "context_length_exceeded" },
  );

/** A thread's name: the start of the conversation's title, at most Discord's limit, never cut inside a character. */
export function threadName(title: string): string {
  // A title of at most that many UTF-16 units has at most that many characters: most are kept as they are.
  if (title.length <= THREAD_NAME_LIMIT) return title || "conversation";
  return [...title].slice(0, THREAD_NAME_LIMIT).join("") || "conversation";
}

/**
 * Starts the conversation's thread, named after the start of its first user
 * message. When the guild has too many active threads (160006), the entry's
 * least recently used threads are archived to make room, once.
 */
async function startThread(channel: DiscordChannel, places: Attempt["places"], entryKey: string, title: string, limits: CallLimits): Promise<string> {
  const name = threadName(title);
  try {
    return await channel.createThread(name, limits);
  } catch (error) {
    if (!(error instanceof PostError) || error.code !== 160006) throw error;
    const oldest = await places.oldest(entryKey, THREADS_FREED_ON_LIMIT);
    log.warn("discord has too many active threads in the guild; archiving the oldest", { entry: channel.entry.index, threads: oldest.length });
    for (const threadId of oldest) {
      await channel.connection.setArchived(threadId, true).catch(() => {});
      await places.archived(threadId);
    }
    return channel.createThread(name, limits);
  }
}

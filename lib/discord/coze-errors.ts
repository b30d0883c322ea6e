import { UpstreamFailure } from "../pool/failure.ts";

/**
 * Coze writes its errors on Discord as reply text. A quota error rests the
 * bot; any other failure just moves the request to another bot.
 */
export type CozeErrorKind = "quota" | "failure";
const QUOTA = [
  "You have exceeded the daily limit for sending messages to the bot",
  "You've used up your free chat credits",
  "You've used up your credits for today",
  "the developer's message credits being exhausted",
];

const FAILURE = [
  "Something wrong occurs, please retry",
  "Some error occurred. Please try again",
  "We've detected unusual traffic from your network",
  "There are too many users now",
];

/** Error texts are one short sentence or two; a longer reply that quotes one is an answer, not an error. */
const MAX_ERROR_LENGTH = 400;

const normalise = (text: string) => text.replace(/[\u2018\u2019]/g, "'").toLowerCase();
const quota = QUOTA.map(normalise);
const failure = FAILURE.map(normalise);

/** Which Coze error a reply text is, if it is one. */
export function classifyCozeText(text: string): CozeErrorKind | null {
  if (text.length > MAX_ERROR_LENGTH || text === "") return null;
  const t = normalise(text);
  if (quota.some((phrase) => t.includes(phrase))) return "quota";
  if (failure.some((phrase) => t.includes(phrase))) return "failure";
  return null;
}

/** A reply that turned out to be one of Coze's error texts: another bot of the model may answer. */
export class CozeErrorText extends UpstreamFailure {
  override name = "CozeErrorText";

  constructor(
    readonly errorKind: CozeErrorKind,
    /** What Coze wrote, for the client's error message. */
    readonly cozeText: string,
  ) {
    // A quota text on Discord may be Coze repeating what a prompt asked for: it makes the entry suspect, not resting.
    super(errorKind === "quota" ? "quota-text" : "error-answer", errorKind === "quota" ? cozeText : `Coze answered with an error: ${cozeText}`, { openaiCode: "coze_error", fromCoze: true });
    this.message = `Coze answered with an error: ${cozeText}`;
  }
}

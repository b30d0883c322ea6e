/**
 * The answer deltas of Coze's chat stream, taken out the way a client that
 * wants only the answer takes them: line by line, an `event:` line naming
 * the `data:` line after it. Feed it each chunk's text as it comes; each
 * answer delta's content goes to `onDelta`. Shared by the bare API loop and
 * the no-logic relay, so both do the same work.
 */
export function answerDeltas(onDelta: (content: string) => void): (chunk: string) => void {
  let rest = "";
  let event = "";
  return (chunk) => {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:") && event === "conversation.message.delta") {
        const data = JSON.parse(line.slice(5));
        if (data.type === "answer") onDelta(data.content);
      }
    }
  };
}
